"""Memory requests sized from a job's inputs: all of them, or only those the job loads."""

import os

from nsdrecon.job_resources import memory, minutes


class Inputs(dict):
    """What Snakemake passes as ``input``: named files (a path or a list of paths) and their total size."""

    @property
    def size_mb(self):
        files = [f for v in self.values() for f in ([v] if isinstance(v, str) else v)]
        return sum(os.path.getsize(f) for f in files) / 2**20


def test_memory_counts_the_inputs_a_job_loads(tmp_path):
    paths = {}
    for name, mib in [("betas", 40), ("decoder_a", 3), ("decoder_b", 1)]:
        paths[name] = tmp_path / name
        paths[name].write_bytes(b"\0" * (mib << 20))
    inputs = Inputs(betas=str(paths["betas"]), decoders=[str(paths["decoder_a"]), str(paths["decoder_b"])])
    assert memory(100, 2)(None, inputs, 1) == 100 + 2 * 44
    assert memory(100, 2, of=["decoders"])(None, inputs, 1) == 100 + 2 * 4
    assert memory(100, 2, of=["decoders"])(None, inputs, 2) == 2 * (100 + 2 * 4)  # a retry asks for twice as much
    assert memory(100, 2, of=["decoders"])(None, Inputs(betas="absent", decoders=["absent"]), 1) == 100  # a dry run
    assert minutes(5, 1024)(None, inputs) == 5 + 44
