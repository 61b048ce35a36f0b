"""A subject's stimuli copied out of imgBrick by range reads: same pixels, a fraction of the bytes."""

import h5py
import numpy as np
import pytest

from nsdrecon.download import DownloadError, RetryPolicy
from nsdrecon.nsd import read_stim_info, read_stimuli
from nsdrecon.nsd.stimuli import StimulusImages, read_captions, write_caption_table
from nsdrecon.nsd.stimulus_subset import write_stimulus_subset
from nsdrecon.remote import RangesNotSupported
from tests.http_server import FileServer
from tests.nsd_testfiles import write_captions, write_stim_info

KEY = "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
N, SIDE = 400, 64
FAST = RetryPolicy(retries=4, backoff=0.01, timeout=10)


def write_brick(path, layout):
    brick = np.random.default_rng(0).integers(0, 256, (N, SIDE, SIDE, 3), dtype=np.uint8)
    options = {
        "chunked": {"chunks": (1, SIDE, SIDE, 3)},
        "contiguous": {},
        "compressed": {"chunks": (4, SIDE, SIDE, 3), "compression": "gzip"},
    }[layout]
    with h5py.File(path, "w") as f:
        f.create_dataset("imgBrick", data=brick, **options)
    return brick


@pytest.fixture(params=["chunked", "contiguous"])
def full(tmp_path, request):
    path = tmp_path / "nsd_stimuli.hdf5"
    return path, write_brick(path, request.param)


IDS = np.arange(3, N, 11)  # 37 of 400 images, none adjacent


def test_subset_over_http_has_the_same_pixels_and_reads_a_fraction(full, tmp_path):
    path, brick = full
    body = path.read_bytes()
    with FileServer({KEY: body}) as s:
        s.faults.drop_after = [1000]
        s.faults.statuses = [503]
        result = write_stimulus_subset(f"{s.url}/{KEY}", IDS[::-1], tmp_path / "subj01.h5", parallel=4, policy=FAST)
        sent = s.faults.bytes_sent
    assert result.n_images == len(IDS) and result.n_fetched == len(IDS)
    np.testing.assert_array_equal(read_stimuli(tmp_path / "subj01.h5", IDS), brick[IDS])
    np.testing.assert_array_equal(read_stimuli(tmp_path / "subj01.h5", IDS), read_stimuli(path, IDS))
    with h5py.File(tmp_path / "subj01.h5") as f:
        assert f["nsd_id"][:].tolist() == IDS.tolist() and set(f) == {"imgBrick", "nsd_id"}
    # 37 images of 12 kB = 9% of the file; the rest is HDF5 metadata read in 16 KiB blocks
    assert sent < 0.25 * len(body), (sent, len(body))
    assert not (tmp_path / "subj01.h5.part").exists()


def test_local_path_and_url_give_identical_subsets(full, tmp_path):
    path, _ = full
    write_stimulus_subset(path, IDS, tmp_path / "local.h5", progress=False)
    with FileServer({KEY: path.read_bytes()}) as s:
        write_stimulus_subset(f"{s.url}/{KEY}", IDS, tmp_path / "remote.h5", policy=FAST, progress=False)
    with h5py.File(tmp_path / "local.h5") as a, h5py.File(tmp_path / "remote.h5") as b:
        np.testing.assert_array_equal(a["imgBrick"][:], b["imgBrick"][:])


def test_compressed_layout_falls_back_to_h5py_reads(tmp_path):
    path = tmp_path / "nsd_stimuli.hdf5"
    brick = write_brick(path, "compressed")
    with FileServer({KEY: path.read_bytes()}) as s:
        write_stimulus_subset(f"{s.url}/{KEY}", IDS, tmp_path / "s.h5", policy=FAST, progress=False)
    np.testing.assert_array_equal(read_stimuli(tmp_path / "s.h5", IDS), brick[IDS])


def test_interrupted_subset_resumes_with_the_missing_images(full, tmp_path):
    path, brick = full
    url_of = lambda s: f"{s.url}/{KEY}"  # noqa: E731
    with FileServer({KEY: path.read_bytes()}) as s:
        write_stimulus_subset(url_of(s), IDS, tmp_path / "clean.h5", parallel=1, policy=FAST, progress=False)
        clean_gets = s.faults.gets
    with FileServer({KEY: path.read_bytes()}) as s:
        s.faults.broken_after = clean_gets - 10  # the last 10 image requests fail
        with pytest.raises(DownloadError, match="gave up"):
            write_stimulus_subset(url_of(s), IDS, tmp_path / "s.h5", parallel=1, policy=FAST, progress=False)
        with h5py.File(tmp_path / "s.h5.part") as f:
            assert f["fetched"][:].sum() == len(IDS) - 10
        s.faults.broken_after = None
        result = write_stimulus_subset(url_of(s), IDS, tmp_path / "s.h5", policy=FAST, progress=False)
    assert result.n_fetched == 10
    np.testing.assert_array_equal(read_stimuli(tmp_path / "s.h5", IDS), brick[IDS])


def test_server_without_ranges_is_a_clear_error(full, tmp_path):
    path, _ = full
    with FileServer({KEY: path.read_bytes()}) as s:
        s.faults.ignore_range = True
        with pytest.raises(RangesNotSupported, match="does not accept HTTP range requests"):
            write_stimulus_subset(f"{s.url}/{KEY}", IDS, tmp_path / "s.h5", policy=FAST)
    assert not (tmp_path / "s.h5").exists()


def test_read_stimuli_from_several_subsets_and_lazy_view(full, tmp_path):
    path, brick = full
    a, b = np.arange(0, 200, 3), np.arange(100, 400, 7)
    write_stimulus_subset(path, a, tmp_path / "a.h5", progress=False)
    write_stimulus_subset(path, b, tmp_path / "b.h5", progress=False)
    ids = np.array([b[-1], 0, 3, b[1], 3])
    files = [tmp_path / "a.h5", tmp_path / "b.h5"]
    np.testing.assert_array_equal(read_stimuli(files, ids), brick[ids])
    lazy = StimulusImages(files, ids)
    assert len(lazy) == 5
    np.testing.assert_array_equal(lazy[1:4], brick[ids[1:4]])
    with pytest.raises(ValueError, match=r"nsd ids \[1\] \(1 in all\) are in none of"):
        read_stimuli(files, [1, 3])


def test_caption_table_matches_the_coco_files(tmp_path):
    info_path = tmp_path / "nsd_stim_info_merged.csv"
    write_stim_info(info_path, n_images=10, shared=np.array([2, 5]))
    info = read_stim_info(info_path)
    folder = write_captions(tmp_path / "annotations", info)
    n = write_caption_table(tmp_path / "captions.tsv", folder, info, [4, 3, 7])
    assert n == 6
    assert read_captions([tmp_path / "captions.tsv"], info, [7, 4]) == read_captions(folder, info, [7, 4])
    info.loc[4, "cocoId"] = 5
    with pytest.raises(ValueError, match="nsd id 4 has COCO id 1028, nsd_stim_info_merged.csv says 5"):
        read_captions([tmp_path / "captions.tsv"], info, [4])
