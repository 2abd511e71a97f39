"""Verify Clerk session JWTs locally: one key cache per process, no network call per request.

Clerk signs every token of an instance (session, JWT template, M2M) with the same key,
so the claims decide what counts as a session token, not the signature alone.
"""

import logging
import re
import threading
from dataclasses import dataclass
from time import monotonic

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
    jwks_failure_cooldown_seconds: float

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
            jwks_failure_cooldown_seconds=settings.CLERK_JWKS_FAILURE_COOLDOWN_SECONDS,
        )


class _JwksClient(jwt.PyJWKClient):
    """PyJWKClient over `requests` that never lets a Clerk outage queue requests behind each other.

    One fetch at a time per process; callers that waited for it use its outcome. While the
    endpoint is down the last good key set keeps serving; with nothing cached, a failed fetch
    makes every caller fail at once for `failure_cooldown` seconds instead of each waiting
    out its own timeout.
    """

    def __init__(self, config: VerifierConfig):
        super().__init__(
            config.jwks_url,
            lifespan=config.jwks_cache_seconds,
            timeout=config.jwks_timeout_seconds,
            cooldown_duration=config.jwks_refresh_cooldown_seconds,
        )
        self.failure_cooldown = config.jwks_failure_cooldown_seconds
        self.last_fetch_failed = False
        self._last_good: jwt.PyJWKSet | None = None
        self._unavailable_until = 0.0
        self._fetch_lock = threading.Lock()

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        # A valid cached key never waits behind a fetch (a refresh for an unknown kid may hang).
        cached = self._cached_key(kid)
        if cached is not None:
            return cached
        with self._fetch_lock:
            self._refuse_while_cooling_down()
            try:
                return super().get_signing_key(kid)
            except jwt.PyJWKClientError as exc:
                if self.last_fetch_failed:
                    raise SigningKeysUnavailable("Clerk JWKS unreachable and the key is not cached.") from exc
                raise

    def fetch_data(self) -> jwt.PyJWKSet:
        try:
            key_set = self._download()
        except (requests.RequestException, ValueError, jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
            return self._fall_back(exc)
        self._last_good = key_set
        self.last_fetch_failed = False
        self._unavailable_until = 0.0
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(key_set)
        return key_set

    def _download(self) -> jwt.PyJWKSet:
        response = requests.get(self.uri, timeout=self.timeout, allow_redirects=False)
        response.raise_for_status()
        key_set = jwt.PyJWKSet.from_dict(self._as_jwk_set_payload(response.json()))
        # An answer with no signing key is an outage too: it must not replace the keys we have.
        self._get_signing_keys_from_jwk_set(key_set)
        return key_set

    def _fall_back(self, exc: Exception) -> jwt.PyJWKSet:
        self.last_fetch_failed = True
        if self._last_good is None:
            self._unavailable_until = monotonic() + self.failure_cooldown
            raise SigningKeysUnavailable(f"Clerk JWKS unreachable: {type(exc).__name__}") from exc
        logger.warning("Clerk JWKS unreachable (%s); using the cached keys", type(exc).__name__)
        return self._last_good

    def _cached_key(self, kid: str) -> jwt.PyJWK | None:
        key_set = self.jwk_set_cache.get() if self.jwk_set_cache is not None else None
        if key_set is None:
            return None
        return self.match_kid(self._get_signing_keys_from_jwk_set(key_set), kid)

    def _refuse_while_cooling_down(self) -> None:
        if monotonic() < self._unavailable_until:
            raise SigningKeysUnavailable("Clerk JWKS unreachable: waiting out the failure cooldown.")


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
