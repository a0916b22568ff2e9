"""The registry (isp_plugins.checks) is the one list of checks, and the layers keep their rules.

- setup.cfg's console scripts, the check packages under plugins/checks/ and the command
  definitions in nagios-config/ (Nagios, Icinga 2, NRPE) are exactly the registry's checks;
- the test-side tables keyed by console script cover exactly the checks they are about;
- imports, read with ast (lazy ones inside functions too): asterisk_ami knows nothing of
  isp_plugins, the sources nothing of the Nagios side, no check imports another, the command
  line layer loads no nagiosplugin at import, and no module-level import cycle exists.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import pytest

import asterisk_ami
import isp_plugins
import isp_plugins.checks
from isp_plugins.checks import AMI_CHECKS, BY_SCRIPT, CHECKS, ICINGA2_PREFIX, CheckInfo
from tests import golden, test_asterisk_watch, test_nagios_config
from tests.check_cases import AMI_CASES, REAL_CASES
from tests.conftest import ROOT
from tests.nagios_helpers import (
    PBX_HOST_PLUGINS,
    RELAY_PLUGINS,
    icinga2_checkcommands,
    nagios_command_files,
    nrpe_commands,
    program,
)

WATCH_ENTRY_POINT = "asterisk-watch = isp_plugins.watch.main:main"
#: What each check module builds its nagiosplugin Check with: build_check, except the rate-limit
#: check, which has one builder per mode (the database, --log).
BUILDERS = {check.script: ["build_check"] for check in CHECKS} | {
    "check_ratelimit_offenders": ["build_db_check", "build_log_check"]
}
SCRIPTS = [check.script for check in CHECKS]
AMI_SCRIPTS = {check.script for check in AMI_CHECKS}


# -- the registry itself ------------------------------------------------------------------
def test_the_registry_lists_each_check_once() -> None:
    assert len(CHECKS) == 11
    for field in ("script", "package", "name"):
        values = [getattr(check, field) for check in CHECKS]
        assert len(set(values)) == len(values), f"two checks share a {field}"
    assert {check.script: check for check in CHECKS} == BY_SCRIPT
    assert [check.script for check in AMI_CHECKS] == [
        "check_asterisk_pri",
        "check_asterisk_bri",
        "check_asterisk_fxo",
        "check_asterisk_dahdi",
        "check_asterisk_peers",
    ]


def test_the_registry_is_setup_cfg_console_scripts() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    entry_points = [" ".join(line.split()) for line in lines if line.strip()]
    assert entry_points == [check.entry_point for check in CHECKS] + [WATCH_ENTRY_POINT]


@pytest.mark.parametrize("check", CHECKS, ids=SCRIPTS)
def test_each_check_has_its_command_options_and_check(check: CheckInfo) -> None:
    command = importlib.import_module(check.module)
    assert isinstance(command.main, click.Command)
    options = command.Options
    assert issubclass(options, tuple) and options._fields, f"{check.module}.Options"
    assert command.main.check_name == check.name  # the status line's prefix
    built = importlib.import_module(check.check_module)
    builders = [name for name in dir(built) if name.startswith("build_")]
    assert builders == BUILDERS[check.script]
    assert all(callable(getattr(built, name)) for name in builders)


def test_every_check_package_is_registered() -> None:
    folder = Path(isp_plugins.checks.__file__).parent
    packages = {p.name for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == {check.package for check in CHECKS}


# -- nagios-config/ -------------------------------------------------------------------------
def test_nagios_has_a_command_file_per_check_and_nothing_else() -> None:
    """nagios/<script>.cfg for each check, defining <script> and variants that run it."""
    files = nagios_command_files()
    assert sorted(files) == sorted(SCRIPTS)
    nrpe = nrpe_commands()
    for script, commands in files.items():
        assert script in commands, f"nagios/{script}.cfg does not define {script}"
        for name, line in commands.items():
            assert name == script or name.startswith(f"{script}_"), f"{script}.cfg: {name}"
            runs = program(line)
            if runs == "check_nrpe":  # through NRPE: the command it names runs the check
                runs = program(nrpe[re.search(r"-c (\S+)", line).group(1)])
            assert runs == script, f"nagios/{script}.cfg: {name} runs {runs}"


def test_icinga2_has_a_checkcommand_per_check_and_nothing_else() -> None:
    """commands.conf: one CheckCommand per check, in the registry's order, each named
    ICINGA2_PREFIX + its package (isp_asterisk_pri), so no ITL command can share its name."""
    names = icinga2_checkcommands()
    assert names == [check.icinga2_command for check in CHECKS]
    assert ICINGA2_PREFIX == "isp_"
    assert BY_SCRIPT["check_fail2ban"].icinga2_command == "isp_fail2ban"
    assert all(name == ICINGA2_PREFIX + check.package for name, check in zip(names, CHECKS))


def test_nrpe_runs_every_check_that_reads_its_own_host_and_nothing_unknown() -> None:
    """The checks that are not AMI checks run on the relay or the PBX, so through NRPE."""
    run = set()
    for name, line in nrpe_commands().items():
        script = program(line)
        assert script in BY_SCRIPT, f"NRPE command[{name}] runs {script}, not a check"
        assert name == script or name.startswith(f"{script}_"), f"command[{name}]: {script}"
        run.add(script)
    assert run == set(SCRIPTS) - AMI_SCRIPTS


def test_the_config_parsers_are_not_blind() -> None:
    assert program("/usr/bin/sudo /usr/lib/nagios/plugins/check_fail2ban -w 1") == (
        "check_fail2ban"
    )
    assert program("$USER1$/check_nrpe -H $HOSTADDRESS$ -c x") == "check_nrpe"
    assert list(nagios_command_files()["check_postfix_queue"]) == [
        "check_postfix_queue_nrpe",
        "check_postfix_queue_nrpe_all",
        "check_postfix_queue_nrpe_args",
        "check_postfix_queue",
    ]
    assert icinga2_checkcommands()[:2] == ["isp_asterisk_pri", "isp_asterisk_bri"]
    assert len(nrpe_commands()) == 10  # the commented-out optional ones included


# -- the test-side tables keyed by console script -------------------------------------------
def test_test_tables_cover_exactly_their_checks() -> None:
    assert set(AMI_CASES) == AMI_SCRIPTS, "tests/check_cases.py AMI_CASES"
    assert set(REAL_CASES) == AMI_SCRIPTS, "tests/check_cases.py REAL_CASES"
    assert set(golden.AMI_CASES) == AMI_SCRIPTS, "tests/golden.py AMI_CASES"
    assert sorted(SCRIPTS) == golden.CONSOLE_SCRIPTS
    # asterisk-watch prints what each AMI check prints; Nagios 4 runs each AMI check's commands.
    assert {plugin for _, plugin, _ in test_asterisk_watch.SAME_TEXT} == AMI_SCRIPTS
    e2e = {service[2].split("!")[0] for service in test_nagios_config.E2E_SERVICES}
    assert e2e == AMI_SCRIPTS | {f"{script}_secretfile" for script in AMI_SCRIPTS}
    # Every check that is not an AMI check runs on its host: the PBX or the relay.
    assert not set(PBX_HOST_PLUGINS) & set(RELAY_PLUGINS)
    assert set(PBX_HOST_PLUGINS) | set(RELAY_PLUGINS) == set(SCRIPTS) - AMI_SCRIPTS


def test_the_demo_runs_registered_checks() -> None:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    scripts = {case[0] for case in demo.CASES}
    assert scripts == {"check_asterisk_pri", "check_asterisk_fxo"}
    assert scripts <= set(BY_SCRIPT)
    with pytest.raises(SystemExit, match="check_asterisk_nosuch is not a check"):
        demo.script_path("check_asterisk_nosuch")


# -- layering -------------------------------------------------------------------------------
class Import(NamedTuple):
    target: str  # the module imported (or the package, for `from package import name`)
    module_level: bool  # runs when the importing module is imported


def module_files() -> dict[str, Path]:
    """Every module of the two import names, by dotted name."""
    modules = {}
    for package in (asterisk_ami, isp_plugins):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            parts = [package.__name__, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[Import]:
    """The imports in source: inside functions (lazy) too; `if TYPE_CHECKING:` ones not at all.

    ``from a.b import c`` is the module a.b.c when that is a module, else a.b.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for stmt in child.orelse:
                    visit_one(stmt, module_level)
                continue
            visit_one(child, module_level)

    def visit_one(node: ast.AST, module_level: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, module_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append(Import(full if full in known else base, module_level))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(node, False)
        else:
            visit(node, module_level)

    visit(ast.parse(source), True)
    return found


@pytest.fixture(scope="module")
def imports() -> dict[str, list[Import]]:
    """Module -> its imports, for every module of asterisk_ami and isp_plugins."""
    files = module_files()
    known = set(files)
    return {
        module: imports_of(
            path.read_text(encoding="utf-8"), module, path.name == "__init__.py", known
        )
        for module, path in files.items()
    }


def under(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def violations(
    imports: dict[str, list[Import]], importer: str, forbidden: tuple[str, ...], *, lazy_too: bool
) -> list[str]:
    return sorted(
        f"{module} imports {found.target}"
        for module, found_list in imports.items()
        if under(module, importer)
        for found in found_list
        if (lazy_too or found.module_level) and under(found.target, *forbidden)
    )


def test_the_import_reader_sees_lazy_relative_and_type_checking_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os, json as j\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from .. import runtime\n"
        "if TYPE_CHECKING:\n"
        "    import nagiosplugin\n"
        "else:\n"
        "    import click\n"
        "class C:\n"
        "    import re\n"
        "    def method(self):\n"
        "        import asyncio\n"
        "async def probe():\n"
        "    from isp_plugins.runtime import ami\n"
    )
    known = {"isp_plugins.sources.sibling", "isp_plugins.runtime.ami"}
    found = imports_of(source, "isp_plugins.sources.module", False, known)
    assert found == [
        Import("__future__", True),
        Import("os", True),
        Import("json", True),
        Import("typing", True),
        Import("isp_plugins.sources.sibling", True),
        Import("isp_plugins", True),  # isp_plugins.runtime is not in known: the package
        Import("click", True),
        Import("re", True),
        Import("asyncio", False),
        Import("isp_plugins.runtime.ami", False),
    ]


def test_every_module_was_read(imports: dict[str, list[Import]]) -> None:
    assert "asterisk_ami.simulator" in imports
    assert "isp_plugins.checks.asterisk_pri.check" in imports
    assert "isp_plugins.sources.postfix_queue.reader" in imports
    assert len(imports) > 60
    # The check's machinery loads lazily, after the options are parsed.
    lazy = imports["isp_plugins.checks.asterisk_pri.command"]
    assert Import("isp_plugins.checks.asterisk_pri.check", False) in lazy


def test_asterisk_ami_never_imports_isp_plugins(imports: dict[str, list[Import]]) -> None:
    assert violations(imports, "asterisk_ami", ("isp_plugins",), lazy_too=True) == []


def test_sources_never_import_the_nagios_side(imports: dict[str, list[Import]]) -> None:
    nagios_side = (
        "nagiosplugin",
        "isp_plugins.runtime",
        "isp_plugins.checks",
        "isp_plugins.cli",
        "isp_plugins.watch",
    )
    assert violations(imports, "isp_plugins.sources", nagios_side, lazy_too=True) == []


@pytest.mark.parametrize("check", CHECKS, ids=SCRIPTS)
def test_no_check_imports_another(imports: dict[str, list[Import]], check: CheckInfo) -> None:
    own = f"isp_plugins.checks.{check.package}"
    others = tuple(f"isp_plugins.checks.{c.package}" for c in CHECKS if c != check)
    assert violations(imports, own, others, lazy_too=True) == []


def test_the_command_line_layer_loads_no_nagiosplugin(imports: dict[str, list[Import]]) -> None:
    assert violations(imports, "isp_plugins.cli", ("nagiosplugin",), lazy_too=False) == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def module_graph(imports: dict[str, list[Import]]) -> Iterator[tuple[str, set[str]]]:
    for module, found in imports.items():
        yield module, {i.target for i in found if i.module_level and i.target in imports}


def test_no_import_cycle_among_module_level_imports(imports: dict[str, list[Import]]) -> None:
    graph = dict(module_graph(imports))
    assert sum(len(targets) for targets in graph.values()) > 50  # the graph is not empty
    assert cycles(graph) == []
