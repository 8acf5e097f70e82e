"""Who is asking: a user named by a verified JWT, or a service holding the internal key.

A user token is an `Authorization: Bearer` JWT, verified with the hub's own secret (HS256,
`AGENT_RUNTIME__AUTH_JWT_SECRET`) or an identity provider's keys (RS256/ES256 from
`AGENT_RUNTIME__AUTH_JWKS_URL`, cached and refreshed by `jwt.PyJWKClient`); `exp` is required,
`nbf`, the issuer and the audience are checked when given or configured. The user is `sub`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import jwt

from hub.errors import ApiError

ASYMMETRIC = ("RS256", "ES256")
LEEWAY_SECONDS = 30  # clocks of the hub and the issuer may differ a little
USER_MAX = 128  # what a session's owner column holds
WHY_MAX = 200


@dataclass(frozen=True, slots=True)
class Principal:
    """`user` None: the internal key, which sees every session (services, administrators)."""

    user: str | None

    @property
    def admin(self) -> bool:
        return self.user is None

    def may_use(self, owner: str | None) -> bool:
        """A session belongs to the user who created it; the key's sessions to nobody."""
        return self.admin or owner == self.user


SERVICE = Principal(None)


class TokenRefused(ApiError):
    def __init__(self, why: str) -> None:
        # `why` may quote the token's own header: bounded, and one line, for bodies and logs.
        why = why.replace("\n", " ").replace("\r", " ")
        why = why if len(why) <= WHY_MAX else why[:WHY_MAX] + "…"
        super().__init__(401, f"user token refused: {why}", "unauthorized")


class TokenVerifier:
    def __init__(
        self,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, lifespan=300) if jwks_url else None
        self._issuer = issuer
        self._audience = audience

    @property
    def enabled(self) -> bool:
        return self._secret is not None or self._jwks is not None

    async def verify(self, token: str) -> Principal:
        """The token's user, or TokenRefused saying why (expired, forged, wrong audience…)."""
        try:
            algorithm = str(jwt.get_unverified_header(token).get("alg"))
            key = await self._key_for(token, algorithm)
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("it has expired") from None
        except jwt.PyJWKClientError as exc:
            raise TokenRefused(f"no key to verify it ({exc})") from None
        except (jwt.PyJWTError, ValueError) as exc:  # also a broken key set from the provider
            raise TokenRefused(str(exc) or type(exc).__name__) from None
        user = claims["sub"]
        if not isinstance(user, str) or not 0 < len(user) <= USER_MAX or "\x00" in user:
            raise TokenRefused(f"sub must be a string of 1 to {USER_MAX} characters")
        return Principal(user)

    async def _key_for(self, token: str, algorithm: str) -> str | jwt.PyJWK:
        if algorithm == "HS256" and self._secret is not None:
            return self._secret
        if algorithm in ASYMMETRIC and self._jwks is not None:
            # PyJWKClient fetches with urllib, which blocks: not on the event loop.
            return await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        accepted = (["HS256"] if self._secret else []) + (list(ASYMMETRIC) if self._jwks else [])
        raise jwt.InvalidAlgorithmError(
            f"algorithm {algorithm[:20]!r} is not accepted; expected one of: {', '.join(accepted)}"
        )


def issue_token(secret: str, user: str, ttl_seconds: float, issuer: str | None = None,
                audience: str | None = None) -> str:  # fmt: skip
    """A token signed with the hub's own secret, for teams without an identity provider."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user, "iat": now, "exp": now + int(ttl_seconds)}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
