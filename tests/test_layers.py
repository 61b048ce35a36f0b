"""The package's layer contract, read from the source with ``ast``: lower layers never import higher ones,
the stages never import each other, and no import cycle exists (``TYPE_CHECKING`` imports included)."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nsdrecon"

LAYERS = {
    "foundations": {
        "__init__", "atomic", "layout", "devices", "seeding", "hub", "fileformats", "h5io", "resumable",
        "download", "download_records", "remote", "osf", "nsd", "things", "ridge", "stats", "images", "feature_files", "prediction_files", "settings",
        "cortex",
    },
    "models": {"models"},
    "stages": {"masks", "betas", "features", "decoders", "diffusion", "metrics", "baseline", "interpretability", "synthetic", "meeg"},
    "outputs": {"tables", "plotting", "published"},
    "workflow": {"pipeline", "config_checks", "runlog", "job_resources", "tiny_models"},
}
RANK = {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The top-level part of the package a module belongs to (``__init__`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports (absolute and relative, anywhere in the file)."""
    found = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            found[module] |= {t for t in targets if t == "nsdrecon" or t.startswith("nsdrecon.")}
    return found


def test_every_part_of_the_package_has_a_layer():
    units = {unit(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units - set(RANK) == set(), "add the new modules to LAYERS"


def test_no_layer_imports_a_higher_one_and_stages_do_not_import_each_other():
    violations = []
    for module, targets in imports().items():
        for target in targets:
            source, dest = unit(module), unit(target)
            if source == dest or dest == "__init__":
                continue
            if RANK[dest] > RANK[source] or (RANK[dest] == RANK[source] and source in LAYERS["stages"]):
                violations.append(f"{module} -> {target}")
    assert violations == []


def test_no_import_cycle_between_parts_of_the_package():
    graph = defaultdict(set)
    for module, targets in imports().items():
        graph[unit(module)] |= {unit(t) for t in targets if unit(t) not in (unit(module), "__init__")}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in list(graph):
        if node not in state:
            visit(node, [])
