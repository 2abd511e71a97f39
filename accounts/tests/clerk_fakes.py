"""Real RS256 keys, real session tokens and real Svix signatures for tests; no network."""

import base64
import json
import secrets
import time
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from svix.webhooks import Webhook

ISSUER = "https://clerk.creatorsync.test"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
FRONTEND_ORIGIN = "https://app.creatorsync.test"
CLERK_API_URL = "https://api.clerk.test/v1"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"creatorsync-test-webhook-secret!").decode()


class SigningKey:
    """An RSA key pair standing in for a Clerk instance key."""

    def __init__(self, kid: str | None = None):
        self.kid = kid or f"ins_{secrets.token_hex(8)}"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_jwk(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def session_token(self, *, headers: dict | None = None, drop: tuple[str, ...] = (), **claims) -> str:
        """A Clerk v2 session token; keyword arguments override claims, `drop` removes them."""
        now = int(time.time())
        payload = {
            "azp": FRONTEND_ORIGIN,
            "exp": now + 60,
            "iat": now,
            "nbf": now - 5,
            "iss": ISSUER,
            "jti": secrets.token_hex(10),
            "sid": "sess_2abcdef",
            "sub": "user_2owner",
            "sts": "active",
            "v": 2,
            **claims,
        }
        for name in drop:
            payload.pop(name, None)
        header = {"kid": self.kid, "cat": "cl_B7d4PD111AAA", **(headers or {})}
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers=header)


def jwks(*keys: SigningKey) -> dict:
    return {"keys": [key.public_jwk for key in keys]}


def signed_webhook(body: dict, *, msg_id: str | None = None, secret: str = WEBHOOK_SECRET, at: datetime | None = None):
    """Return (raw body, request headers) signed the way Svix signs Clerk's deliveries."""
    raw = json.dumps(body)
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    timestamp = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, raw)
    headers = {
        "HTTP_SVIX_ID": msg_id,
        "HTTP_SVIX_TIMESTAMP": str(int(timestamp.timestamp())),
        "HTTP_SVIX_SIGNATURE": signature,
    }
    return raw, headers


def clerk_user(
    clerk_id: str = "user_2owner",
    *,
    email: str = "owner@example.com",
    updated_at: int = 1_700_000_000_000,
    twitch: tuple[str, str] | None = ("123456", "ownerstreams"),
    **fields,
) -> dict:
    """A Clerk user object as webhooks and the Backend API return it."""
    external_accounts = []
    if twitch:
        external_accounts.append(
            {
                "id": "eac_1",
                "object": "external_account",
                "provider": "oauth_twitch",
                "provider_user_id": twitch[0],
                "username": twitch[1],
                "approved_scopes": "user:read:email",
            }
        )
    return {
        "id": clerk_id,
        "object": "user",
        "email_addresses": [
            {"id": "idn_other", "email_address": "old@example.com"},
            {"id": "idn_primary", "email_address": email},
        ],
        "primary_email_address_id": "idn_primary",
        "first_name": "Olive",
        "last_name": "Owner",
        "username": "olive",
        "image_url": "https://img.clerk.com/olive.png",
        "external_accounts": external_accounts,
        "created_at": 1_690_000_000_000,
        "updated_at": updated_at,
        **fields,
    }


def clerk_event(event_type: str, data: dict) -> dict:
    return {"data": data, "object": "event", "type": event_type, "timestamp": 1_700_000_000, "instance_id": "ins_1"}
