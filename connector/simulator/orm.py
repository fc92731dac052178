"""The environment of one call and the model class whose public methods RPC reaches."""

from __future__ import annotations

import uuid
from datetime import datetime

from . import computed
from .auditlog import AuditLog
from .database import Storage, View
from .domain import DomainCompiler
from .errors import UserError
from .orm_read import normalize_ids
from .orm_relations import RelationMethods

# Subtypes of the demo database: mail.mt_comment = 1, mail.mt_note = 2.
SUBTYPES = {"mail.mt_comment": 1, "mail.mt_note": 2}


def db_stamp(moment: datetime) -> str:
    """How a transaction time is stored: with microseconds.

    A real clock practically never reads exactly .000000; a frozen test clock does, and
    would then make ``write_date = <value read>`` match and ``>`` miss, which no real server
    shows. One microsecond keeps the recorded facts true for any clock.
    """
    if moment.microsecond == 0:
        moment = moment.replace(microsecond=1)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class Env:
    """Who calls (uid, context), when (the transaction time) and on which data (view)."""

    def __init__(self, storage: Storage, view: View, uid: int, context: dict | None,
                 now: datetime, auditlog: bool = False) -> None:
        self.storage = storage
        self.view = view
        self.registry = storage.registry
        self.uid = uid
        self.context = dict(context or {})
        self.now = now
        # Stored with microseconds, read back as whole seconds (see orm_read.to_read).
        self.now_str = db_stamp(now)
        self.compiler = DomainCompiler(view)
        self.audit = AuditLog(self) if auditlog and "auditlog.rule" in self.registry else None
        self._user_partner: int | None = None

    @property
    def active_test(self) -> bool:
        """False when the context asks to see archived records too."""
        return self.context.get("active_test", True) is not False

    def __getitem__(self, name: str) -> BaseModel:
        if name not in self.registry.models:
            raise UserError(f"Object {name} doesn't exist")
        return BaseModel(self, self.registry.models[name])

    def user_partner_id(self) -> int | None:
        """The partner of the calling user."""
        if self._user_partner is None:
            users = self.registry["res.users"]
            row = self.view.fetch(users, [self.uid], ["partner_id"]).get(self.uid)
            self._user_partner = row["partner_id"] if row else None
        return self._user_partner


class BaseModel(RelationMethods):
    """One model in one environment; public methods are what RPC may call."""

    # Methods taking the record ids as first argument (``@api.model`` methods do not).
    RECORD_METHODS = frozenset({"read", "write", "unlink", "name_get", "exists",
                                "message_post", "subscribe", "unsubscribe", "copy",
                                "generate_access_token"})
    PUBLIC_METHODS = frozenset({"search", "search_read", "search_count", "read", "create",
                                "write", "unlink", "fields_get", "name_search", "name_get",
                                "default_get", "exists", "check_access_rights", "copy"})

    def __init__(self, env: Env, model) -> None:
        self.env = env
        self.model = model

    def __repr__(self) -> str:
        return f"{self.model.name}()"

    def rpc_method(self, name: str):
        """The bound method RPC may call as ``name``, or None."""
        if name in self.PUBLIC_METHODS:
            return getattr(self, name)
        if name == "message_post" and self.model.mail_thread:
            return self.message_post
        if name == "context_get" and self.model.name == "res.users":
            return self.context_get
        if name in ("subscribe", "unsubscribe") and self.model.name == "auditlog.rule":
            return getattr(self, name)
        if name == "generate_access_token" and self.model.name == "ir.attachment":
            return self.generate_access_token
        return None

    def check_access_rights(self, operation, raise_exception=True):
        """Access was already checked by the dispatcher; reaching here means allowed."""
        return True

    # -- res.users --------------------------------------------------------------------

    def context_get(self):
        """The calling user's context (lang, tz, uid), as odoorpc asks at login."""
        partner_id = self.env.user_partner_id()
        partner = self.env.registry["res.partner"]
        row = self.env.view.fetch(partner, [partner_id] if partner_id else [],
                                  ["lang", "tz"]).get(partner_id, {})
        return {"lang": row.get("lang") or "en_US", "tz": row.get("tz") or False,
                "uid": self.env.uid}

    # -- auditlog.rule ----------------------------------------------------------------

    def subscribe(self, ids):
        """Start logging the rule's model."""
        self._write(normalize_ids(ids), {"state": "subscribed"})
        return True

    def unsubscribe(self, ids):
        """Stop logging the rule's model."""
        self._write(normalize_ids(ids), {"state": "draft"})
        return True

    # -- ir.attachment ----------------------------------------------------------------

    def generate_access_token(self, ids):
        """Each attachment's access token, made (a UUID, written) for those without one."""
        ids = normalize_ids(ids)
        self._check_missing(ids)
        rows = self.env.view.fetch(self.model, ids, ["access_token"])
        tokens = []
        for rid in ids:
            token = (rows.get(rid) or {}).get("access_token")
            if not token:
                token = str(uuid.uuid4())
                self._write([rid], {"access_token": token})
            tokens.append(token)
        return tokens

    # -- mail.thread ------------------------------------------------------------------

    def message_post(self, ids, body="", subject=None, message_type="notification",
                     subtype_xmlid=None, subtype_id=False, partner_ids=None,
                     attachment_ids=None, author_id=None, email_from=None, parent_id=False,
                     **kwargs):
        """Post a message on one record; returns the new mail.message id."""
        env, model = self.env, self.model
        ids = normalize_ids(ids)
        if len(ids) != 1:
            raise ValueError(f"Expected singleton: {model.name}{tuple(ids)!r}")
        self._check_missing(ids)
        rid = ids[0]
        if author_id is None:
            author_id = env.user_partner_id()
        if email_from is None and author_id:
            partner = env.registry["res.partner"]
            author = env.view.fetch(partner, [author_id], ["name", "email"]).get(author_id, {})
            email_from = computed.format_address(author.get("name"), author.get("email"))
        if not subtype_id:
            subtype_id = SUBTYPES.get(subtype_xmlid or "mail.mt_note", 2)
        record_name = computed.display_names(env, model, [rid]).get(rid)
        values = {
            "model": model.name, "res_id": rid, "body": computed.html_body(body),
            "subject": subject or False, "message_type": message_type,
            "subtype_id": subtype_id, "author_id": author_id or False,
            "email_from": email_from or False, "record_name": record_name,
            "parent_id": parent_id or False,
            "partner_ids": [(6, 0, list(partner_ids or []))],
            "attachment_ids": [(6, 0, list(attachment_ids or []))],
            "message_id": f"<{uuid.uuid4().hex[:20]}-openerp-{rid}-{model.name}@simulator>",
            "date": env.now.replace(microsecond=0),
        }
        return env["mail.message"]._create([values])[0]


# Argument errors read "BaseModel.search() got an unexpected keyword argument ..." as in Odoo.
for _name in BaseModel.PUBLIC_METHODS | {"message_post", "context_get", "subscribe",
                                         "unsubscribe", "generate_access_token"}:
    getattr(BaseModel, _name).__qualname__ = f"BaseModel.{_name}"
