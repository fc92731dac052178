"""String formatting the way Odoo code writes it: %-formatting first, f-strings, and the string
methods of everyday parsing."""

from __future__ import annotations

import pytest

FORMAT_NOT_MERGED = "issue 13: safe str.format/format_map not merged yet"

VALUES = [
    ("return 'Order %s for %s' % ('S001', 'Ada')", "Order S001 for Ada"),
    ("return '%d item(s), %.2f EUR' % (3, 12.5)", "3 item(s), 12.50 EUR"),
    ("return '%(name)s <%(email)s>' % {'name': 'Ada', 'email': 'ada@example.com'}",
     "Ada <ada@example.com>"),
    ("return '%5s|%-5s|%05d' % ('a', 'b', 42)", "    a|b    |00042"),
    ("return '%r' % 'x'", "'x'"),
    ("return '%x %o %e' % (255, 8, 1500.0)", "ff 10 1.500000e+03"),
    ("return '100%% done' % ()", "100% done"),
    ("name = 'Ada'\nreturn f'Hello {name}!'", "Hello Ada!"),
    ("total = 12.5\nreturn f'{total:.2f} EUR, {total:>8.1f}'", "12.50 EUR,     12.5"),
    ("n = 7\nreturn f'{n:03d} {n!r} {n * 2}'", "007 7 14"),
    ("d = {'a': 1}\nreturn f\"{d['a']} {len(d)}\"", "1 1"),
    ("value = 1234567.891\nreturn f'{value:,.2f}'", "1,234,567.89"),
    ("return ', '.join(['a', 'b', 'c'])", "a, b, c"),
    ("return 'a;b;;c'.split(';')", ["a", "b", "", "c"]),
    ("return '  Ada Lovelace  '.strip().lower().replace(' ', '.')", "ada.lovelace"),
    ("return 'ref-0042'.rsplit('-', 1)[1].lstrip('0')", "42"),
    ("return 'Hello'.startswith('He'), 'file.csv'.endswith(('.csv', '.txt'))", [True, True]),
    ("return 'abc'.upper() + 'DEF'.title() + 'x'.center(3, '*')", "ABCDef*x*"),
    ("return '42'.zfill(5), 'x'.ljust(3, '.'), '7'.rjust(3)", ["00042", "x..", "  7"]),
    ("return 'Straße'.casefold() == 'STRASSE'.casefold()", True),
    ("return 'a\\nb\\r\\nc'.splitlines()", ["a", "b", "c"]),
    ("return 'one two three'.partition(' ')", ["one", " ", "two three"]),
    ("return 'x'.isdigit(), '12'.isdigit(), 'ab'.isalpha(), ' '.isspace()",
     [False, True, True, True]),
    ("return 'banana'.count('a'), 'banana'.find('n'), 'banana'.rfind('n')", [3, 2, 4]),
    ("return 'café'.encode('utf-8').decode('utf-8') == 'café'", True),
    ("return len('café'.encode('utf-8'))", 5),
    ("return str(b'abc', 'ascii'), bytes('é', 'utf-8').hex()", ["abc", "c3a9"]),
    ("return repr(None) + str(True) + ascii('é')", "NoneTrue'\\xe9'"),
    ("return 'tab\\there'.expandtabs(4)", "tab here"),
    ("return chr(65) + str(ord('B'))", "A66"),
    ("text = 'Price: 10 EUR'\nreturn int(''.join(c for c in text if c.isdigit()))", 10),
    ("return '{'.join(['a', 'b'])", "a{b"),
    ("return 'a-b-c'.translate({ord('-'): '_'})", "a_b_c"),
    ("return 'x=%s' % [1, 2]", "x=[1, 2]"),
    ("return '%s' % (('a', 'b'),)", "('a', 'b')"),
]


@pytest.mark.parametrize(("body", "expected"), VALUES, ids=[str(i) for i in range(len(VALUES))])
def test_string_snippet(compat, body, expected):
    assert compat.value(body) == expected


def test_percent_formatting_with_record_values(compat):
    partner = compat.partner("Ada Percent", email="ada@example.com")
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        return "%s <%s> #%d" % (p.name, p.email, p.id)
    """) == f"Ada Percent <ada@example.com> #{partner}"


def test_fstring_with_record_values(compat):
    partner = compat.partner("Ada Fstring")
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        return f"{{p.name}} ({{p.id}})"
    """) == f"Ada Fstring ({partner})"


def test_format_with_an_underscore_field_is_refused_at_save_time(compat):
    from connector.projects import ProjectFileError

    with pytest.raises(ProjectFileError, match="_"):
        compat.install("def handle_button():\n    return '{0.__class__}'.format(1)\n")


FORMAT = [
    ("return '{} <{}>'.format('Ada', 'ada@example.com')", "Ada <ada@example.com>"),
    ("return '{0}-{0}-{1}'.format('a', 'b')", "a-a-b"),
    ("return '{name}: {total:.2f}'.format(name='S001', total=3.5)", "S001: 3.50"),
    ("return '{:>6}|{:<4}|{:^5}'.format('a', 'b', 'c')", "     a|b   |  c  "),
    ("return '{0[0]} {1[key]}'.format([7], {'key': 'v'})", "7 v"),
    ("return '{name}'.format_map({'name': 'Ada'})", "Ada"),
    ("return '{:,}'.format(1234567)", "1,234,567"),
    ("return '{d.year}'.format(d=datetime.date(2024, 1, 1))", "2024"),
]


@pytest.mark.parametrize(("body", "expected"), FORMAT, ids=[str(i) for i in range(len(FORMAT))])
def test_str_format_snippet(compat, body, expected):
    assert compat.value(body) == expected


def test_format_of_a_record_field(compat):
    partner = compat.partner("Ada Format")
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        return "{{}} ({{}})".format(p.name, p.id)
    """) == f"Ada Format ({partner})"
