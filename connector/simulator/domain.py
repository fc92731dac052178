"""Odoo search domains: validation, normalization and translation to SQLite SQL.

The semantics follow Odoo 17 on PostgreSQL, as pinned down by the recorded golden vectors:
``!=``/``not in``/``not like`` also match empty (NULL) values, ``ilike`` folds case but not
accents and keeps ``_``/``%`` as wildcards, dotted paths go through relations with
subqueries, and malformed domains raise ``ValueError`` with Odoo's wording.
"""

from __future__ import annotations

import itertools

from .database import View, quote
from .domain_scalar import FALSE_SQL, TRUE_SQL, scalar_condition
from .models import Field, Model

TERM_OPERATORS = ("=", "!=", "<=", "<", ">", ">=", "=?", "=like", "=ilike", "like",
                  "not like", "ilike", "not ilike", "in", "not in", "child_of", "parent_of",
                  "any", "not any")
NEGATIVE_OPERATORS = ("!=", "not like", "not ilike", "not in", "not any")
NEGATION = {"<": ">=", ">": "<=", "<=": ">", ">=": "<", "=": "!=", "!=": "=",
            "in": "not in", "not in": "in", "like": "not like", "not like": "like",
            "ilike": "not ilike", "not ilike": "ilike", "any": "not any", "not any": "any"}
POSITIVE = {"!=": "=", "not like": "like", "not ilike": "ilike", "not in": "in",
            "not any": "any"}

# Fields name_search looks at (``_rec_names_search``), when not just the record name.
REC_NAMES_SEARCH = {"res.partner": ("complete_name", "email", "ref", "vat",
                                    "company_registry")}


def is_operator(token) -> bool:
    """True for the prefix operators ``&``, ``|`` and ``!``."""
    return isinstance(token, str) and token in ("&", "|", "!")


def normalize(domain) -> list:
    """Make implicit ``&`` explicit; raise Odoo's ValueError when operators dangle."""
    if not isinstance(domain, (list, tuple)):
        raise ValueError(f"Invalid domain {domain!r}")
    if not domain:
        return []
    result: list = []
    expected = 1
    arity = {"!": 1, "&": 2, "|": 2}
    for token in domain:
        if expected == 0:  # more terms than operators: an implicit '&' in front
            result[0:0] = ["&"]
            expected = 1
        if isinstance(token, (list, tuple)):
            expected -= 1
            token = tuple(token)
        else:
            expected += arity.get(token, 0) - 1
        result.append(token)
    if expected:
        raise ValueError(f"Domain {domain} is syntactically not correct.")
    return result


def _tree(tokens: list, pos: int = 0):
    """Parse a normalized prefix domain into nested tuples."""
    token = tokens[pos]
    if token in ("&", "|"):
        left, pos = _tree(tokens, pos + 1)
        right, pos = _tree(tokens, pos)
        return (token, left, right), pos
    if token == "!":
        child, pos = _tree(tokens, pos + 1)
        return ("!", child), pos
    return ("leaf", token), pos + 1


def _negate(node):
    """Push a ``!`` down to the leaves, as Odoo's distribute_not does."""
    kind = node[0]
    if kind == "&":
        return ("|", _negate(node[1]), _negate(node[2]))
    if kind == "|":
        return ("&", _negate(node[1]), _negate(node[2]))
    if kind == "!":
        return node[1]
    left, operator, right = node[1]
    if isinstance(operator, str) and operator.lower() in NEGATION:
        return ("leaf", (left, NEGATION[operator.lower()], right))
    return ("!", node)


class DomainCompiler:
    """Translates domains on one view of the data into SQL WHERE clauses."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.registry = view.registry
        self._aliases = itertools.count(1)

    # -- entry points -----------------------------------------------------------------

    def where(self, model: Model, domain, alias: str = "t", active_test: bool = True):
        """(sql, params) selecting the records of ``model`` (as ``alias``) in ``domain``."""
        tokens = normalize(domain)
        checked = [self._check(model, tok) for tok in tokens]
        if active_test and model.has_active and not any(
                not is_operator(tok) and tok[0] == "active" for tok in checked):
            checked = ["&", ("active", "=", True)] + checked if checked else [
                ("active", "=", True)]
        if not checked:
            return TRUE_SQL, []
        tree, _ = _tree(checked)
        params: list = []
        sql = self._node(model, tree, alias, params)
        return sql, params

    def subquery(self, model: Model, domain, active_test: bool = True):
        """(sql, params) of ``SELECT id FROM model WHERE domain``."""
        alias = f"s{next(self._aliases)}"
        where, params = self.where(model, domain, alias, active_test)
        return f"SELECT {alias}.id FROM {self.view.src(model)} AS {alias} WHERE {where}", params

    # -- validation -------------------------------------------------------------------

    @staticmethod
    def _check(model: Model, token):
        if is_operator(token):
            return token
        if not isinstance(token, tuple):
            raise ValueError(f"Invalid leaf {token}")
        left, operator, right = token  # ValueError "not enough values to unpack" as in Odoo
        if token in ((1, "=", 1), (0, "=", 1)):
            return token
        if not isinstance(operator, str) or operator.lower() not in TERM_OPERATORS + ("<>",):
            raise ValueError(f"Invalid leaf {token}")
        if not isinstance(left, str) or left.split(".", 1)[0] not in model.fields:
            name = left.split(".", 1)[0] if isinstance(left, str) else left
            raise ValueError(f"Invalid field {model.name}.{name} in leaf {token}")
        return token

    # -- tree -------------------------------------------------------------------------

    def _node(self, model: Model, node, alias: str, params: list) -> str:
        kind = node[0]
        if kind in ("&", "|"):
            left = self._node(model, node[1], alias, params)
            right = self._node(model, node[2], alias, params)
            return f"({left} {'AND' if kind == '&' else 'OR'} {right})"
        if kind == "!":
            child = _negate(node[1])
            if child[0] == "!":
                return f"(NOT {self._node(model, child[1], alias, params)})"
            return self._node(model, child, alias, params)
        return self._leaf(model, node[1], alias, params)

    def _leaf(self, model: Model, leaf, alias: str, params: list) -> str:
        if leaf == (1, "=", 1):
            return TRUE_SQL
        if leaf == (0, "=", 1):
            return FALSE_SQL
        left, operator, right = self._check(model, leaf)
        operator = operator.lower()
        if operator == "<>":
            operator = "!="
        if operator == "=?":
            if right is False or right is None:
                return TRUE_SQL
            operator = "="
        if isinstance(right, (list, tuple)) and operator in ("=", "!="):
            operator = "in" if operator == "=" else "not in"
        path = left.split(".", 1)
        fld = model.fields[path[0]]
        if len(path) > 1:
            return self._path(model, fld, path[1], operator, right, alias, params)
        if fld.delegate:
            return self._delegated(model, fld, (left, operator, right), alias, params)
        if fld.name == "id":
            return self._id_leaf(model, operator, right, alias, params)
        if fld.type == "many2one" and fld.column:
            return self._many2one(model, fld, operator, right, alias, params)
        if fld.type == "one2many":
            return self._one2many(model, fld, operator, right, alias, params)
        if fld.type == "many2many" and fld.rel_table:
            return self._many2many(model, fld, operator, right, alias, params)
        if fld.column:
            return scalar_condition(fld, f"{alias}.{quote(fld.column)}", operator, right, params)
        return self._unstored(model, fld, operator, right, alias, params)

    # -- relational paths ---------------------------------------------------------------

    def _comodel(self, fld: Field) -> Model | None:
        return self.registry.models.get(fld.relation) if fld.relation else None

    def _path(self, model, fld, rest, operator, right, alias, params) -> str:
        comodel = self._comodel(fld)
        if fld.delegate:
            return self._delegated(model, fld, (f"{fld.name}.{rest}", operator, right),
                                   alias, params)
        if comodel is None or fld.type not in ("many2one", "one2many", "many2many"):
            raise ValueError(f"Invalid field {model.name}.{fld.name} in leaf "
                             f"{(f'{fld.name}.{rest}', operator, right)}")
        if fld.type == "many2one":
            # Odoo 17 searches the comodel without active_test for many2one paths.
            sub, sub_params = self.subquery(comodel, [(rest, operator, right)], False)
            params.extend(sub_params)
            return f"{alias}.{quote(fld.column)} IN ({sub})"
        sub, sub_params = self.subquery(comodel, [(rest, operator, right)], True)
        params.extend(sub_params)
        return self._x2many_in(model, fld, sub, alias)

    def _x2many_in(self, model: Model, fld: Field, id_subquery: str, alias: str) -> str:
        """SQL: the record has a related record among ``id_subquery``."""
        comodel = self._comodel(fld)
        if fld.type == "many2many":
            return (f"{alias}.id IN (SELECT src FROM {self.view.rel_src(model, fld)} "
                    f"WHERE dst IN ({id_subquery}))")
        if not fld.inverse or comodel is None:
            return FALSE_SQL
        a = f"s{next(self._aliases)}"
        extra = ""
        if fld.inverse_model_field:
            extra = f" AND {a}.{quote(fld.inverse_model_field)} = '{model.name}'"
        return (f"{alias}.id IN (SELECT {a}.{quote(fld.inverse)} FROM {self.view.src(comodel)} "
                f"AS {a} WHERE {a}.id IN ({id_subquery}){extra})")

    def _x2many_any(self, model: Model, fld: Field, alias: str, active_test: bool) -> str:
        """SQL: the record has at least one related record."""
        comodel = self._comodel(fld)
        if fld.type == "many2many":
            return f"{alias}.id IN (SELECT src FROM {self.view.rel_src(model, fld)})"
        if not fld.inverse or comodel is None:
            return FALSE_SQL
        a = f"s{next(self._aliases)}"
        cond = f"{a}.{quote(fld.inverse)} IS NOT NULL"
        if fld.inverse_model_field:
            cond += f" AND {a}.{quote(fld.inverse_model_field)} = '{model.name}'"
        if active_test and comodel.has_active:
            cond += f" AND {a}.active = 1"
        return (f"{alias}.id IN (SELECT {a}.{quote(fld.inverse)} FROM "
                f"{self.view.src(comodel)} AS {a} WHERE {cond})")

    def _delegated(self, model, fld, leaf, alias, params) -> str:
        parent = self.registry[model.delegate[1]]
        link = model.fields[fld.delegate]
        sub, sub_params = self.subquery(parent, [leaf], False)
        params.extend(sub_params)
        return f"{alias}.{quote(link.column)} IN ({sub})"

    def rec_name_domain(self, model: Model, operator: str, value) -> list:
        """The domain name_search uses on ``model`` for ``value``."""
        candidates = REC_NAMES_SEARCH.get(model.name) or (
            (model.rec_name,) if model.rec_name else ())
        names = [n for n in candidates if n in model.fields]
        if not names:  # no record name to match: like Odoo, nothing matches by name
            return [(1, "=", 1)] if operator in NEGATIVE_OPERATORS else [(0, "=", 1)]
        leaves = [(name, operator, value) for name in names]
        if operator in NEGATIVE_OPERATORS:
            return ["&"] * (len(leaves) - 1) + leaves
        return ["|"] * (len(leaves) - 1) + leaves

    def _names_subquery(self, comodel: Model, operator: str, right, params: list) -> str:
        sub, sub_params = self.subquery(comodel, self.rec_name_domain(comodel, operator, right))
        params.extend(sub_params)
        return sub

    @staticmethod
    def _is_names(right) -> bool:
        if isinstance(right, str):
            return True
        return (isinstance(right, (list, tuple)) and bool(right)
                and all(isinstance(v, str) for v in right))

    # -- field kinds ------------------------------------------------------------------

    def _id_leaf(self, model, operator, right, alias, params) -> str:
        column = f"{alias}.id"
        if operator in ("child_of", "parent_of"):
            ids = self._hierarchy(model, operator, right, params)
            return f"{column} IN ({ids})"
        if operator in ("any", "not any"):
            sub, sub_params = self.subquery(model, right, False)
            params.extend(sub_params)
            return f"{column} {'IN' if operator == 'any' else 'NOT IN'} ({sub})"
        return scalar_condition(model.fields["id"], column, operator, right, params)

    def _hierarchy(self, model: Model, operator: str, right, params: list) -> str:
        """A recursive subquery of the ids below (child_of) or above (parent_of) ``right``."""
        parent = model.parent_name
        ids = right if isinstance(right, (list, tuple)) else [right]
        if any(isinstance(v, str) for v in ids):
            seed, seed_params = self.subquery(model, self.rec_name_domain(model, "ilike",
                                                                          ids[0]))
        elif not ids:
            return "SELECT NULL WHERE 0"
        else:
            seed = " UNION ALL ".join("SELECT ?" for _ in ids)
            seed_params = [int(v) for v in ids]
        params.extend(seed_params)
        if not parent:
            return seed
        src = self.view.src(model)
        step = (f"SELECT c.id FROM {src} AS c JOIN tree ON c.{parent} = tree.id"
                if operator == "child_of" else
                f"SELECT c.{parent} FROM {src} AS c JOIN tree ON c.id = tree.id "
                f"WHERE c.{parent} IS NOT NULL")
        return f"WITH RECURSIVE tree(id) AS ({seed} UNION {step}) SELECT id FROM tree"

    def _many2one(self, model, fld, operator, right, alias, params) -> str:
        column = f"{alias}.{quote(fld.column)}"
        comodel = self._comodel(fld)
        if operator in ("child_of", "parent_of"):
            if comodel is None:
                return FALSE_SQL
            return f"{column} IN ({self._hierarchy(comodel, operator, right, params)})"
        if operator in ("any", "not any"):
            if comodel is None:
                return FALSE_SQL if operator == "any" else TRUE_SQL
            sub, sub_params = self.subquery(comodel, right, False)
            params.extend(sub_params)
            if operator == "any":
                return f"{column} IN ({sub})"
            return f"({column} IS NULL OR {column} NOT IN ({sub}))"
        if self._is_names(right) and operator not in ("<", ">", "<=", ">="):
            if comodel is None:
                return TRUE_SQL if operator in NEGATIVE_OPERATORS else FALSE_SQL
            sub = self._names_subquery(comodel, POSITIVE.get(operator, operator), right, params)
            if operator in NEGATIVE_OPERATORS:
                return f"({column} IS NULL OR {column} NOT IN ({sub}))"
            return f"{column} IN ({sub})"
        return scalar_condition(fld, column, operator, right, params)

    def _relation_ids_sql(self, fld, operator, right, params) -> str | None:
        """A subquery (or literal list) of related ids matched by a positive leaf."""
        comodel = self._comodel(fld)
        if self._is_names(right):
            if comodel is None:
                return None
            return self._names_subquery(comodel, operator, right, params)
        values = right if isinstance(right, (list, tuple)) else [right]
        values = [int(v) for v in values if v is not False and v is not None]
        if not values:
            return None
        params.extend(values)
        return ",".join("?" * len(values))

    def _x2many_leaf(self, model, fld, operator, right, alias, params) -> str:
        if fld.type == "one2many" and (not fld.inverse or self._comodel(fld) is None):
            # A relation to a model the simulator does not hold: never any related record.
            empty = right is False or right is None or (
                isinstance(right, (list, tuple)) and not right)
            holds = operator in NEGATIVE_OPERATORS or (operator == "=" and empty)
            if operator == "not in" and isinstance(right, (list, tuple)):
                holds = True
            return TRUE_SQL if holds else FALSE_SQL
        if operator in ("any", "not any"):
            comodel = self._comodel(fld)
            if comodel is None:
                return FALSE_SQL if operator == "any" else TRUE_SQL
            sub, sub_params = self.subquery(comodel, right, True)
            params.extend(sub_params)
            inside = self._x2many_in(model, fld, sub, alias)
            return inside if operator == "any" else f"(NOT {inside})"
        empty = right is False or right is None or (
            isinstance(right, (list, tuple)) and not right)
        negative = operator in NEGATIVE_OPERATORS
        if empty and operator in ("=", "!=", "in", "not in"):
            has_any = self._x2many_any(model, fld, alias, True)
            if operator in ("in",) and isinstance(right, (list, tuple)):
                return FALSE_SQL
            if operator == "not in" and isinstance(right, (list, tuple)):
                return TRUE_SQL
            return f"(NOT {has_any})" if operator == "=" else has_any
        ids_sql = self._relation_ids_sql(fld, POSITIVE.get(operator, operator), right, params)
        if ids_sql is None:
            return TRUE_SQL if negative else FALSE_SQL
        inside = self._x2many_in(model, fld, ids_sql, alias)
        return f"(NOT {inside})" if negative else inside

    _one2many = _x2many_leaf
    _many2many = _x2many_leaf

    def _unstored(self, model, fld, operator, right, alias, params) -> str:
        if fld.name == "display_name":
            positive = POSITIVE.get(operator, operator)
            sub = self._names_subquery(model, positive, right, params)
            if operator in NEGATIVE_OPERATORS:
                return f"{alias}.id NOT IN ({sub})"
            return f"{alias}.id IN ({sub})"
        if model.name == "res.partner" and fld.name == "company_type":
            want = right == "company"
            if operator in ("!=", "not in"):
                want = not want
            return scalar_condition(model.fields["is_company"], f"{alias}.is_company", "=",
                                want, params)
        raise ValueError(f"Non-stored field {model.name}.{fld.name} cannot be searched.")
