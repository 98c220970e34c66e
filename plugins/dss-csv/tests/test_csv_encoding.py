"""Point 3: UTF-8, UTF-8 with a byte order mark, declared encodings, and wrong encodings as errors."""

from __future__ import annotations

import pytest

from dss_core import ConfigurationError, InputError

TEXT = "idnumber,name\n1,Zoë Ångström\n2,Renée\n"


def names(tree):
    return {i: o.name for i, o in tree.branch("users").items()}


def test_utf8(load, write):
    write("s.csv", TEXT)
    assert names(load({"path": "s.csv"})) == {"1": "Zoë Ångström", "2": "Renée"}


@pytest.mark.parametrize("encoding", [None, "utf-8", "UTF8", "utf_8"])
def test_utf8_bom_is_stripped(load, write, encoding):
    write("s.csv", b"\xef\xbb\xbf" + TEXT.encode())
    settings = {"path": "s.csv"} | ({"encoding": encoding} if encoding else {})
    tree = load(settings)
    assert names(tree) == {"1": "Zoë Ångström", "2": "Renée"}  # "idnumber" column found


def test_declared_cp1252(load, write):
    write("s.csv", TEXT + "3,“Smart” – quotes\n", encoding="cp1252")
    tree = load({"path": "s.csv", "encoding": "cp1252"})
    assert names(tree)["1"] == "Zoë Ångström"
    assert names(tree)["3"] == "“Smart” – quotes"


def test_encoding_from_environment(load, write):
    write("s.csv", TEXT, encoding="latin-1")
    tree = load({"path": "s.csv"}, environ={"DSS_SIS_USERS_ENCODING": "latin-1"})
    assert names(tree)["2"] == "Renée"


def test_utf16_with_bom(load, write):
    write("s.tsv", TEXT.replace(",", "\t"), encoding="utf-16")
    tree = load({"path": "s.tsv", "encoding": "utf-16", "delimiter": "\\t"})
    assert names(tree) == {"1": "Zoë Ångström", "2": "Renée"}


def test_cp1252_file_read_as_utf8_is_an_error_naming_file_and_line(load, write):
    rows = "".join(f"{i},Name {i}\n" for i in range(1, 5000))  # the bad byte is far past the first chunk
    write("s.csv", ("idnumber,name\n" + rows + "5000,Renée\n").encode("cp1252"))
    with pytest.raises(InputError) as info:
        load({"path": "s.csv"})
    message = str(info.value)
    assert message.startswith("s.csv line 5001: cannot decode as utf-8: byte e9")
    assert 'encoding = "cp1252"' in message
    assert str(info.value.where) == "s.csv line 5001"


def test_undecodable_byte_in_first_line(load, write):
    write("s.csv", b"idnumber,n\xffme\n1,a\n")
    with pytest.raises(InputError, match=r"^s\.csv line 1: cannot decode as utf-8: byte ff"):
        load({"path": "s.csv"})


def test_utf8_file_declared_cp1252_is_refused_not_mojibake(load, write):
    write("s.csv", TEXT)  # UTF-8 bytes; decoding them as cp1252 "succeeds" with mojibake
    with pytest.raises(InputError) as info:
        load({"path": "s.csv", "encoding": "cp1252"})
    assert str(info.value).startswith("s.csv line 2: 'ZoÃ«")
    assert "looks like UTF-8 read as cp1252" in str(info.value)


def test_bom_with_legacy_encoding_gives_a_hint(load, write):
    write("s.csv", b"\xef\xbb\xbf" + b"idnumber,name\n1,a\n")
    with pytest.raises(InputError, match="byte order mark: is its encoding utf-8"):
        load({"path": "s.csv", "encoding": "cp1252"})


def test_unknown_encoding_is_a_configuration_error(load, write):
    write("s.csv", TEXT)
    with pytest.raises(ConfigurationError, match="unknown encoding 'klingon'"):
        load({"path": "s.csv", "encoding": "klingon"})
