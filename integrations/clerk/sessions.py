"""Verify Clerk session JWTs locally: one key cache per process, no network call per request.

Clerk signs every token of an instance (session, JWT template, M2M) with the same key,
so the claims decide what counts as a session token, not the signature alone.
"""

import logging
import re
import threading
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from jwt.algorithms import RSAAlgorithm

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
SESSION_TOKEN_CATEGORY = "cl_B7d4PD111AAA"  # noqa: S105 (a token type, not a secret)
# Matched with fullmatch; the whole id fits User.clerk_id (64 characters).
CLERK_USER_ID = re.compile(r"user_[A-Za-z0-9]{1,59}")


class InvalidSessionToken(Exception):
    """The token must be refused (401). The message is safe to show; it never contains the token."""


class SigningKeysUnavailable(Exception):
    """No usable key to verify with (JWKS unreachable and nothing cached): a 503, not the caller's fault."""


@dataclass(frozen=True)
class VerifierConfig:
    issuer: str
    jwks_url: str
    pem_key: str
    authorized_parties: tuple[str, ...]
    leeway_seconds: int
    jwks_timeout_seconds: float
    jwks_cache_seconds: int
    jwks_refresh_cooldown_seconds: int

    @classmethod
    def from_settings(cls) -> "VerifierConfig":
        return cls(
            issuer=settings.CLERK_ISSUER,
            jwks_url=settings.CLERK_JWKS_URL,
            pem_key=settings.CLERK_JWT_KEY,
            authorized_parties=tuple(settings.CLERK_AUTHORIZED_PARTIES),
            leeway_seconds=settings.CLERK_LEEWAY_SECONDS,
            jwks_timeout_seconds=settings.CLERK_JWKS_TIMEOUT_SECONDS,
            jwks_cache_seconds=settings.CLERK_JWKS_CACHE_SECONDS,
            jwks_refresh_cooldown_seconds=settings.CLERK_JWKS_REFRESH_COOLDOWN_SECONDS,
        )


class _JwksClient(jwt.PyJWKClient):
    """PyJWKClient over `requests`, serving the last good key set while the JWKS endpoint is down."""

    def __init__(self, config: VerifierConfig):
        super().__init__(
            config.jwks_url,
            lifespan=config.jwks_cache_seconds,
            timeout=config.jwks_timeout_seconds,
            cooldown_duration=config.jwks_refresh_cooldown_seconds,
        )
        self._last_good: dict | None = None
        self.last_fetch_failed = False

    def fetch_data(self) -> dict:
        try:
            response = requests.get(self.uri, timeout=self.timeout, allow_redirects=False)
            response.raise_for_status()
            data = self._as_jwk_set_payload(response.json())
        except (requests.RequestException, ValueError, jwt.PyJWKClientError) as exc:
            self.last_fetch_failed = True
            if self._last_good is None:
                raise SigningKeysUnavailable(f"Clerk JWKS unreachable: {type(exc).__name__}") from exc
            logger.warning("Clerk JWKS unreachable (%s); using the cached keys", type(exc).__name__)
            return self._last_good
        self._last_good = data
        self.last_fetch_failed = False
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(data)
        return data


class SessionTokenVerifier:
    def __init__(self, config: VerifierConfig):
        self.config = config
        self._pem_key = jwt.PyJWK.from_dict(_pem_to_jwk(config.pem_key)) if config.pem_key else None
        self._jwks = _JwksClient(config) if config.jwks_url and not self._pem_key else None

    def verify(self, token: str) -> dict:
        """Return the claims of a valid, active Clerk session token, or raise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidSessionToken("The token is malformed.") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidSessionToken("The token's algorithm is not allowed.")
        if header.get("cat", SESSION_TOKEN_CATEGORY) != SESSION_TOKEN_CATEGORY:
            raise InvalidSessionToken("Not a session token.")
        try:
            claims = jwt.decode(
                token,
                key=self._signing_key(header.get("kid")),
                algorithms=[ALGORITHM],
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidSessionToken("The token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidSessionToken("The token is not valid yet.") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidSessionToken("The token was issued by another Clerk instance.") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidSessionToken("The token's signature or claims are invalid.") from exc
        self._check_session_claims(claims)
        return claims

    def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        if self._pem_key is not None:
            return self._pem_key
        if self._jwks is None:
            raise SigningKeysUnavailable("Clerk is not configured: set CLERK_ISSUER or CLERK_JWT_KEY.")
        if not kid:
            raise InvalidSessionToken("The token names no signing key.")
        try:
            return self._jwks.get_signing_key(kid)
        except jwt.PyJWKClientError as exc:
            if self._jwks.last_fetch_failed:
                raise SigningKeysUnavailable("Clerk JWKS unreachable and the key is not cached.") from exc
            raise InvalidSessionToken("The token's signing key is unknown.") from exc
        except jwt.PyJWTError as exc:
            raise SigningKeysUnavailable("Clerk JWKS holds no usable key.") from exc

    def _check_session_claims(self, claims: dict) -> None:
        allowed_parties = self.config.authorized_parties
        if allowed_parties and claims.get("azp") not in allowed_parties:
            raise InvalidSessionToken("The token was requested by an origin that is not allowed.")
        if not CLERK_USER_ID.fullmatch(str(claims["sub"])):
            raise InvalidSessionToken("Not a user session token.")
        if not claims.get("sid"):
            raise InvalidSessionToken("Not a session token.")
        if claims.get("sts") == "pending":
            raise InvalidSessionToken("The session is pending: finish signing in first.")


def _pem_to_jwk(pem: str) -> dict:
    public_key = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pem)
    return {**RSAAlgorithm.to_jwk(public_key, as_dict=True), "alg": ALGORITHM}


_verifier: SessionTokenVerifier | None = None
_verifier_lock = threading.Lock()


def get_verifier() -> SessionTokenVerifier:
    """The process-wide verifier; rebuilt only when the Clerk settings change (tests override them)."""
    global _verifier
    config = VerifierConfig.from_settings()
    with _verifier_lock:
        if _verifier is None or _verifier.config != config:
            _verifier = SessionTokenVerifier(config)
        return _verifier


def verify_session_token(token: str) -> dict:
    return get_verifier().verify(token)
