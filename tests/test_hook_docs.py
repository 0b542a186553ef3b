"""Every hook is documented where it is declared, described in docs/hooks.md,
and has a test of its own; removing any of the three makes this file fail.

The checks are plain functions over a module, a Markdown text and test
sources, so the last tests here can feed them doctored copies and show that
each check really catches what it is for.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from ingest.contract import hookspecs

TESTS_DIR = Path(__file__).resolve().parent
DOCS_PAGE = TESTS_DIR.parent / "docs" / "hooks.md"
THIS_FILE = Path(__file__).resolve()

# A hook's docstring says when it is called and how results combine (the
# sections of hookspecs.py), and names each argument and the return value.
REQUIRED_SECTIONS = ("**When:**", "**Result:**")


def hook_specs(module: types.ModuleType) -> dict[str, types.FunctionType]:
    """The hook specifications a module declares, by name (functions
    carrying pluggy's ``<project>_spec`` marker)."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: obj for name, obj in vars(module).items() if inspect.isfunction(obj) and hasattr(obj, marker)
    }


def docstring_problems(module: types.ModuleType) -> list[str]:
    """What is missing from the docstrings of the module's hooks."""
    problems = []
    for name, func in sorted(hook_specs(module).items()):
        doc = inspect.getdoc(func)
        if not doc:
            problems.append(f"{name}: no docstring")
            continue
        for section in REQUIRED_SECTIONS:
            if section not in doc:
                problems.append(f"{name}: docstring has no {section} section")
        for param in inspect.signature(func).parameters:
            if f":param {param}:" not in doc:
                problems.append(f"{name}: docstring does not describe argument {param!r} (:param {param}:)")
        returns = inspect.signature(func).return_annotation
        if returns not in ("None", None, inspect.Signature.empty) and ":return:" not in doc:
            problems.append(f"{name}: docstring does not describe the return value (:return:)")
    return problems


HEADING = re.compile(r"^#{2,6}\s+`?(?P<name>ingest_\w+)`?\s*$", re.MULTILINE)


def documented_hooks(markdown: str) -> set[str]:
    """Hook names that have a heading of their own in a Markdown page."""
    return {match["name"] for match in HEADING.finditer(markdown)}


def docs_problems(hook_names: Iterable[str], markdown: str) -> list[str]:
    """Hooks without a section in the page, and sections for hooks that do
    not exist (stale docs)."""
    names = set(hook_names)
    documented = documented_hooks(markdown)
    return [f"{name}: not described in docs/hooks.md" for name in sorted(names - documented)] + [
        f"{name}: described in docs/hooks.md but not a hook" for name in sorted(documented - names)
    ]


def names_of_tests(sources: Mapping[str, str]) -> set[str]:
    """Names of the test functions (any nesting) in the given sources."""
    names = set()
    for filename, source in sources.items():
        for node in ast.walk(ast.parse(source, filename=filename)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def untested_hooks(hook_names: Iterable[str], sources: Mapping[str, str]) -> list[str]:
    """Hooks with no test of their own: a test function named
    ``test_hook_<hook name>`` or ``test_hook_<hook name>_<anything>``.
    A name is robust where a mere mention (a comment, an import) is not."""
    names = names_of_tests(sources)
    missing = []
    for hook in sorted(hook_names):
        prefix = f"test_hook_{hook}"
        if not any(n == prefix or n.startswith(prefix + "_") for n in names):
            missing.append(f"{hook}: no test named {prefix}_...")
    return missing


def project_test_sources() -> dict[str, str]:
    """The project's test files, except this one (which names every hook)."""
    return {
        str(path): path.read_text(encoding="utf-8")
        for path in sorted(TESTS_DIR.glob("test_*.py"))
        if path.resolve() != THIS_FILE
    }


# -- the checks, on the real thing --------------------------------------------


def test_there_are_hooks_to_check():
    assert {"ingest_stages", "ingest_parse_header_line", "ingest_run_finished"} <= set(hook_specs(hookspecs))


def test_every_hook_has_a_complete_docstring():
    assert docstring_problems(hookspecs) == []


def test_every_hook_is_described_in_docs_hooks_md():
    assert docs_problems(hook_specs(hookspecs), DOCS_PAGE.read_text(encoding="utf-8")) == []


def test_every_hook_has_a_test_of_its_own():
    assert untested_hooks(hook_specs(hookspecs), project_test_sources()) == []


def test_docs_page_states_each_hooks_kind():
    # firstresult hooks must be described as such, and only they.
    page = DOCS_PAGE.read_text(encoding="utf-8")
    first_result = page.split("## First-result hooks")[1].split("## Observer hooks")[0]
    for name, func in hook_specs(hookspecs).items():
        is_first = func.ingest_spec["firstresult"]
        assert (f"### `{name}`" in first_result) == is_first, name


# -- the checks catch what they are for -----------------------------------------


def doctored_hookspecs(strip_docstring_of: str) -> types.ModuleType:
    """A copy of ingest.contract.hookspecs with one hook's docstring removed."""
    tree = ast.parse(inspect.getsource(hookspecs))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == strip_docstring_of:
            assert isinstance(node.body[0], ast.Expr), "the hook had no docstring to remove"
            node.body[0] = ast.Expr(ast.Constant(...))
    module = types.ModuleType("doctored_hookspecs")
    exec(compile(ast.fix_missing_locations(tree), "<doctored hookspecs>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("hook", sorted(hook_specs(hookspecs)))
def test_removing_a_docstring_fails_the_docstring_check(hook):
    problems = docstring_problems(doctored_hookspecs(hook))
    assert problems == [f"{hook}: no docstring"]


def test_incomplete_docstrings_fail_the_docstring_check():
    module = types.ModuleType("thin")
    exec(
        "from ingest.contract.hookspecs import hookspec\n"
        "@hookspec\n"
        "def ingest_thing(doc, stage) -> int:\n"
        '    """**When:** sometimes.\n\n    :param doc: a document.\n    """\n',
        module.__dict__,
    )
    assert docstring_problems(module) == [
        "ingest_thing: docstring has no **Result:** section",
        "ingest_thing: docstring does not describe argument 'stage' (:param stage:)",
        "ingest_thing: docstring does not describe the return value (:return:)",
    ]


@pytest.mark.parametrize("hook", sorted(hook_specs(hookspecs)))
def test_removing_a_section_from_the_docs_fails_the_docs_check(hook):
    page = DOCS_PAGE.read_text(encoding="utf-8")
    doctored = re.sub(rf"^###\s+`{hook}`\s*$", "### something else", page, flags=re.MULTILINE)
    assert doctored != page
    assert docs_problems(hook_specs(hookspecs), doctored) == [f"{hook}: not described in docs/hooks.md"]


def test_a_section_for_a_hook_that_does_not_exist_fails_the_docs_check():
    page = DOCS_PAGE.read_text(encoding="utf-8") + "\n### `ingest_retired_hook`\n\nGone.\n"
    assert docs_problems(hook_specs(hookspecs), page) == [
        "ingest_retired_hook: described in docs/hooks.md but not a hook"
    ]


@pytest.mark.parametrize("hook", sorted(hook_specs(hookspecs)))
def test_renaming_a_hooks_tests_fails_the_test_check(hook):
    sources = project_test_sources()
    pattern = re.compile(rf"\bdef test_hook_{hook}(?=\b|_)")
    doctored = {name: pattern.sub("def test_renamed", source) for name, source in sources.items()}
    assert doctored != sources
    assert untested_hooks(hook_specs(hookspecs), doctored) == [f"{hook}: no test named test_hook_{hook}_..."]


def test_a_mere_mention_is_not_a_test():
    sources = {
        "test_x.py": "# ingest_run_finished is tested elsewhere\ndef test_other():\n    'ingest_run_finished'\n"
    }
    assert untested_hooks(["ingest_run_finished"], sources) == [
        "ingest_run_finished: no test named test_hook_ingest_run_finished_..."
    ]
