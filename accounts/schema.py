from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClerkJWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ClerkJWTAuthentication"
    name = "clerkSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Clerk session token from the frontend (`await getToken()`).",
        }
