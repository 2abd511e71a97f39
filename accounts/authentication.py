from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import User
from accounts.services import user_get_or_provision
from integrations.clerk.sessions import InvalidSessionToken, SigningKeysUnavailable, verify_session_token


class AuthenticationUnavailable(exceptions.APIException):
    status_code = 503
    default_code = "authentication_unavailable"
    default_detail = "Sign-in cannot be checked right now. Try again shortly."


class ClerkJWTAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <Clerk session JWT>`. Stateless: no server-side session is created."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, dict] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: session auth (staff) may apply
        request._clerk_token_refused = True
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected `Bearer <token>`.")
        try:
            token = header[1].decode("ascii")
            claims = verify_session_token(token)
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is malformed.") from exc
        except InvalidSessionToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        except SigningKeysUnavailable as exc:
            raise AuthenticationUnavailable() from exc
        user = user_get_or_provision(clerk_id=claims["sub"])
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This account has been deleted or deactivated.")
        request._clerk_token_refused = False
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        # RFC 6750: an error code only when a token was presented and refused.
        if getattr(request, "_clerk_token_refused", False):
            return 'Bearer error="invalid_token"'
        return 'Bearer realm="api"'
