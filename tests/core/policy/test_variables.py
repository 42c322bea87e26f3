import pytest

from tabletalk.core.errors import Invalid
from tabletalk.core.policy.readonly import parse_read_only, read_only_sql
from tabletalk.core.policy.variables import VariableSpec, bind_filter, validate_variables


def test_injection_attempt_stays_one_string_literal():
    sql = bind_filter("department = '{{d}}'", {"d": "x' OR '1'='1"}, "postgres").sql("postgres")
    assert sql == "department = 'x'' OR ''1''=''1'"


def test_list_binds_as_in_and_number_as_number():
    assert bind_filter("region = '{{r}}'", {"r": ["a", "b"]}, "mysql").sql("mysql") == "region IN ('a', 'b')"
    assert bind_filter("region IN ({{r}})", {"r": ["a"]}, "sqlite").sql("sqlite") == "region IN ('a')"
    assert bind_filter("level <= {{n}}", {"n": 3}, "sqlite").sql("sqlite") == "level <= 3"
    assert bind_filter("name LIKE '%{{q}}%'", {"q": "o'k"}, "sqlite").sql("sqlite") == "name LIKE '%o''k%'"


def test_missing_required_variable_is_named():
    specs = [VariableSpec("user_department"), VariableSpec("opt", required=False)]
    with pytest.raises(Invalid, match="'user_department' is required"):
        validate_variables(specs, {})
    assert validate_variables(specs, {"user_department": "Sales"}) == {"user_department": "Sales"}
    with pytest.raises(Invalid, match="'rid'"):
        bind_filter("region_id = {{rid}}", {}, "sqlite")


def test_types_are_validated():
    with pytest.raises(Invalid, match="must be a number"):
        validate_variables([VariableSpec("n", "number")], {"n": "ten"})
    assert validate_variables([VariableSpec("n", "number")], {"n": "10"}) == {"n": 10}
    with pytest.raises(Invalid, match="list"):
        validate_variables([VariableSpec("l", "list")], {"l": "a"})
    with pytest.raises(Invalid, match="string"):
        validate_variables([VariableSpec("s")], {"s": {"a": 1}})


def test_side_effect_functions_and_mysql_executable_comments_never_pass():
    for sql, dialect in [("SELECT pg_sleep(5)", "postgres"), ("SELECT load_extension('x')", "sqlite"),
                         ("SELECT query_to_xml('select 1', true, true, '')", "postgres"), ("SELECT sleep(3)", "mysql"),
                         ("SELECT * FROM read_csv('/etc/passwd')", "duckdb")]:
        with pytest.raises(Invalid):
            parse_read_only(sql, dialect)
    assert read_only_sql("SELECT 1 /*!, (SELECT 2) */", "mysql") == "SELECT 1"
