import toolkit as tk


def test_all_matches_public_members() -> None:
    exported = set(tk.__all__)
    public = {name for name in dir(tk) if not name.startswith("_")}
    # Submodules imported by the package are attributes but not API unless listed.
    submodules = {
        name
        for name in public
        if getattr(getattr(tk, name), "__name__", "").startswith("toolkit.")
        and type(getattr(tk, name)).__name__ == "module"
    }
    assert exported == public - (submodules - exported)


def test_all_is_sorted() -> None:
    assert list(tk.__all__) == sorted(tk.__all__)


def test_every_exported_name_resolves_lazily() -> None:
    """Names are imported on first use; each one in __all__ has an entry that resolves."""
    assert set(tk._LAZY) == set(tk.__all__)
    for name in tk.__all__:
        assert getattr(tk, name) is not None, name
