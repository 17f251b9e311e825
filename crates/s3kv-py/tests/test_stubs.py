"""The type stubs of the native module match it: same functions, classes, methods and
parameters, so type checkers see the module as it is."""

import ast
import inspect
import pathlib

import s3kv
from s3kv import _s3kv

STUB = pathlib.Path(s3kv.__file__).with_name("_s3kv.pyi")


def stub_tree():
    return ast.parse(STUB.read_text(encoding="utf-8"))


def parameters(node):
    arguments = node.args
    names = [argument.arg for argument in arguments.posonlyargs + arguments.args]
    names += [argument.arg for argument in arguments.kwonlyargs]
    return [name for name in names if name not in ("self", "py")]


def runtime_parameters(function):
    signature = inspect.signature(function)
    return [name for name in signature.parameters if name not in ("self", "$self")]


def public(names):
    return {name for name in names if not name.startswith("_")}


def test_the_stub_names_exactly_the_module_s_functions_and_classes():
    tree = stub_tree()
    stubbed = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    runtime = {
        name
        for name, value in vars(_s3kv).items()
        if not name.startswith("_") and (inspect.isclass(value) or callable(value))
    }
    assert stubbed == runtime


def test_every_stubbed_function_and_method_has_the_runtime_parameters():
    checked = 0
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            assert parameters(node) == runtime_parameters(getattr(_s3kv, node.name)), node.name
            checked += 1
        if isinstance(node, ast.ClassDef):
            cls = getattr(_s3kv, node.name)
            members = {item.name: item for item in node.body if isinstance(item, ast.FunctionDef)}
            runtime_members = public(vars(cls))
            assert public(members) == runtime_members, node.name
            for name, item in members.items():
                attribute = inspect.getattr_static(cls, name)
                is_property = any(
                    isinstance(decorator, ast.Name) and decorator.id == "property"
                    for decorator in item.decorator_list
                )
                if is_property:
                    assert not callable(attribute), f"{node.name}.{name} is not a property"
                    continue
                assert parameters(item) == runtime_parameters(getattr(cls, name)), (
                    f"{node.name}.{name}"
                )
                checked += 1
    assert checked > 15


def test_the_package_is_marked_typed_and_exports_what_it_names():
    assert STUB.with_name("py.typed").is_file()
    for name in s3kv.__all__:
        assert getattr(s3kv, name, None) is not None or name == "S3KV", name
