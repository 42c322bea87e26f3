"""Role variables: validation of declared types, and binding into row filters as literals."""
import pytest
from sqlglot import exp

from tabletalk.core.errors import Invalid
from tabletalk.core.policy.variables import VariableSpec, bind_filter, validate_variables

DIALECTS = ("sqlite", "postgres", "mysql")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_injection_value_stays_one_string_literal(dialect):
    for value in ("x' OR '1'='1", "x\\' OR 1=1 -- ", "x'; DROP TABLE sales; --", "' UNION SELECT * FROM salaries --"):
        bound = bind_filter("department = '{{d}}'", {"d": value}, dialect)
        assert isinstance(bound, exp.EQ)
        assert isinstance(bound.expression, exp.Literal) and bound.expression.is_string
        assert bound.expression.this == value
        assert not list(bound.find_all(exp.Or, exp.Union, exp.Drop))


def test_a_bare_placeholder_also_binds_as_a_literal_never_as_sql():
    bound = bind_filter("region_id = {{rid}}", {"rid": "1 OR 1=1"}, "postgres")
    assert bound.sql("postgres") == "region_id = '1 OR 1=1'"
    assert bind_filter("region_id = {{rid}}", {"rid": 7}, "postgres").sql("postgres") == "region_id = 7"


def test_a_list_binds_as_in_whether_written_in_or_equals():
    assert bind_filter("region IN ({{r}})", {"r": ["a", "b"]}, "sqlite").sql("sqlite") == "region IN ('a', 'b')"
    assert bind_filter("region = '{{r}}'", {"r": ["a", "b"]}, "mysql").sql("mysql") == "region IN ('a', 'b')"
    assert bind_filter("region = {{r}}", {"r": [1, 2]}, "postgres").sql("postgres") == "region IN (1, 2)"
    assert bind_filter("region <> '{{r}}'", {"r": ["a"]}, "postgres").sql("postgres") == "NOT region IN ('a')"
    assert bind_filter("region IN ('{{r}}', 'z')", {"r": ["a", "b"]}, "sqlite").sql("sqlite") == "region IN ('a', 'b', 'z')"


def test_an_empty_list_matches_no_row():
    assert bind_filter("region IN ({{r}})", {"r": []}, "postgres").sql("postgres") == "region IN (NULL)"


def test_a_placeholder_inside_longer_text_stays_one_literal():
    assert bind_filter("name LIKE '%{{q}}%'", {"q": "o'k"}, "sqlite").sql("sqlite") == "name LIKE '%o''k%'"
    with pytest.raises(Invalid, match="'q' is a list"):
        bind_filter("name LIKE '%{{q}}%'", {"q": ["a"]}, "sqlite")


def test_a_placeholder_whose_variable_is_absent_is_named():
    with pytest.raises(Invalid, match="Role variable 'rid' is required"):
        bind_filter("region_id = {{rid}} AND department = '{{dept}}'", {"dept": "east"}, "sqlite")


def test_a_placeholder_standing_for_a_name_is_refused():
    for row_filter in ("id IN (SELECT id FROM {{t}})", "{{t}}.id = 1", "{{t}}(id) = 1", "id = {{t}}0"):
        with pytest.raises(Invalid, match="only a value may stand"):
            bind_filter(row_filter, {"t": "salaries"}, "sqlite")


def test_a_non_finite_number_is_refused_when_binding():
    with pytest.raises(Invalid, match="finite"):
        bind_filter("amount < {{n}}", {"n": float("nan")}, "sqlite")


def test_a_missing_required_variable_is_named():
    specs = [VariableSpec("user_department"), VariableSpec("opt", required=False)]
    with pytest.raises(Invalid, match=r"^Role variable 'user_department' is required but was not given\.$"):
        validate_variables(specs, {})
    with pytest.raises(Invalid, match="'user_department'"):
        validate_variables(specs, {"user_department": ""})
    assert validate_variables(specs, {"user_department": "Sales", "extra": 1}) == {"user_department": "Sales"}


def test_number_variables_accept_numbers_and_numeric_text_only():
    spec = [VariableSpec("n", "number")]
    assert validate_variables(spec, {"n": "10"}) == {"n": 10}
    assert validate_variables(spec, {"n": " 2.5 "}) == {"n": 2.5}
    assert validate_variables(spec, {"n": 3}) == {"n": 3}
    for bad in ("ten", "1; DROP TABLE x", "nan", "inf", True, [1], {"a": 1}, float("inf")):
        with pytest.raises(Invalid, match="Role variable 'n' must be a"):
            validate_variables(spec, {"n": bad})


def test_list_and_string_variables_are_type_checked():
    assert validate_variables([VariableSpec("l", "list")], {"l": ["a", 1]}) == {"l": ["a", 1]}
    for bad in ("a", [], [["nested"]], [True], {"a": 1}):
        with pytest.raises(Invalid, match="Role variable 'l' must be a non-empty list"):
            validate_variables([VariableSpec("l", "list")], {"l": bad})
    assert validate_variables([VariableSpec("s")], {"s": 42}) == {"s": "42"}
    for bad in ({"a": 1}, ["a"], True):
        with pytest.raises(Invalid, match="Role variable 's' must be a string"):
            validate_variables([VariableSpec("s")], {"s": bad})


def test_an_unknown_variable_type_is_refused():
    with pytest.raises(Invalid, match="unknown type 'date'"):
        validate_variables([VariableSpec("d", "date")], {"d": "2024-01-01"})
