"""Schemathesis hooks that sign requests the way a poex node checks them.

RFC 9421 HTTP Message Signatures with Ed25519, label "poex" (docs/httpsig.md): the signature
covers "@method" "@authority" "@path" "@query", and with a body "content-digest" (RFC 9530,
sha-256) and "content-type"; created, expires, nonce, keyid, alg and tag are its parameters.

How it fits schemathesis: the auth provider puts a placeholder `Signature` header on every
operation the schema marks `httpSignature` (so schemathesis knows the case is authenticated,
and can take the header away or spoil it to check that the node refuses it); the requests
auth attached in `before_call` then replaces the placeholder, and only the placeholder, with
a real signature over the exact bytes requests sends. A missing or spoiled `Signature` is
left as it is, and the node must answer 401.

The key is the PKCS#8 PEM file named by POEX_SIGNING_KEY (the runner uses the node home's
`default` key, an owner of the node, so that owner-only operations are reached too).
"""

import base64
import hashlib
import os
import secrets
import time
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives import serialization

PLACEHOLDER = "poex-sign-me"


def _load_key():
    with open(os.environ["POEX_SIGNING_KEY"], "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


KEY = _load_key()
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
).decode()


def sign_headers(method, url, headers, body):
    """The headers that sign a request: Content-Digest (with a body), Signature-Input and
    Signature, exactly as docs/httpsig.md's Python client makes them."""
    parts = urlsplit(url)
    authority = parts.netloc.lower()
    path = parts.path or "/"
    components = ["@method", "@authority", "@path", "@query"]
    lines = [
        f'"@method": {method}',
        f'"@authority": {authority}',
        f'"@path": {path}',
        f'"@query": ?{parts.query}',
    ]
    out = {}
    if body:
        if isinstance(body, str):
            body = body.encode()
        digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        out["Content-Digest"] = digest
        components.append("content-digest")
        lines.append(f'"content-digest": {digest}')
        content_type = headers.get("Content-Type")
        if content_type is not None:
            components.append("content-type")
            lines.append(f'"content-type": {content_type.strip()}')
    created = int(time.time())
    params = (
        "(" + " ".join(f'"{c}"' for c in components) + ")"
        f";created={created};expires={created + 60}"
        f';nonce="{secrets.token_hex(16)}"'
        f';keyid="{PUBLIC}";alg="ed25519";tag="poex"'
    )
    lines.append(f'"@signature-params": {params}')
    signature = KEY.sign("\n".join(lines).encode())
    out["Signature-Input"] = f"poex={params}"
    out["Signature"] = "poex=:" + base64.b64encode(signature).decode() + ":"
    return out


class PoexSignature(requests.auth.AuthBase):
    """Replaces a placeholder `Signature` header with a real signature of the request."""

    def __call__(self, request):
        if request.headers.get("Signature") != PLACEHOLDER:
            return request
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            raise TypeError(f"cannot sign a streamed body ({type(body)})")
        for name, value in sign_headers(request.method, request.url, request.headers, body).items():
            request.headers[name] = value
        return request


@schemathesis.auth()
class Placeholder:
    """Marks the cases of signed operations: the requests auth signs them."""

    def get(self, case, ctx):
        return PLACEHOLDER

    def set(self, case, data, ctx):
        if "security" in case.operation.definition.raw:
            case.headers = case.headers or {}
            case.headers["Signature"] = data


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = PoexSignature()
