"""The login page of the authorization endpoint, and its anti-forgery token.

The page is plain server-rendered HTML with every value escaped, a strict
Content-Security-Policy (no scripts at all; styles by nonce), no framing and
no caching. The form carries the OAuth parameters as hidden fields.

Forgery protection is double-submit: the page sets a random nonce in a
``SameSite=Strict``, ``HttpOnly`` cookie scoped to ``/oauth/authorize`` and puts
``nonce.expiry.mac`` in the form, the MAC keyed by a key derived with HKDF from
the service's index secret (a separate key for this purpose). A POST is
accepted only when the cookie and the form agree, the MAC is right and the
token has not expired; so another site can neither submit the form in the
person's browser nor plant a login.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.identity.policy import ACCOUNT_SOURCE_THROTTLE, SCOPE_DESCRIPTIONS

FORM_COOKIE = "cg_login"
FORM_TTL_SECONDS = 600
_FREE_FAILURES = ACCOUNT_SOURCE_THROTTLE.free_failures
_LOCK_MINUTES = int(ACCOUNT_SOURCE_THROTTLE.first_delay.total_seconds() // 60)


class FormTokens:
    """Issues and checks the login form's anti-forgery tokens."""

    def __init__(self, index_secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"creditgate/login-form",
            info=b"creditgate/login-form/v1",
        ).derive(index_secret)

    def _mac(self, nonce: str, expiry: int) -> str:
        return hmac.new(self._key, f"{nonce}.{expiry}".encode(), hashlib.sha256).hexdigest()

    def issue(self, now: int | None = None) -> tuple[str, str]:
        """A new (cookie value, form value) pair."""
        nonce = secrets.token_urlsafe(24)
        expiry = (int(time.time()) if now is None else now) + FORM_TTL_SECONDS
        return nonce, f"{nonce}.{expiry}.{self._mac(nonce, expiry)}"

    def check(self, cookie: str | None, form_value: str | None, now: int | None = None) -> bool:
        """True when the form token is genuine, fresh and matches the cookie."""
        if not cookie or not form_value or form_value.count(".") != 2:
            return False
        nonce, expiry_text, mac = form_value.split(".")
        if not expiry_text.isdigit() or not hmac.compare_digest(nonce, cookie):
            return False
        expiry = int(expiry_text)
        if expiry < (int(time.time()) if now is None else now):
            return False
        return hmac.compare_digest(mac, self._mac(nonce, expiry))


def security_headers(style_nonce: str) -> dict[str, str]:
    """Headers for every HTML page of the authorization endpoint."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{style_nonce}'; img-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;background:#f4f5f7;margin:0;color:#1d2129}
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .3rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
.error{background:#fdecea;color:#a61b1b;padding:.6rem;border-radius:4px}
.actions{display:flex;gap:.6rem;margin-top:1.2rem}button{padding:.5rem 1rem;font-size:1rem}
ul{padding-left:1.2rem}small{color:#4e5969}
"""


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def render_login(
    *,
    client_name: str,
    scopes: list[str],
    params: Mapping[str, str],
    form_token: str,
    style_nonce: str,
    error: str | None = None,
    username: str = "",
) -> str:
    """The login form for an authorization request."""
    hidden = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in params.items() if v
    )
    if scopes:
        scope_items = "".join(f"<li>{_e(SCOPE_DESCRIPTIONS.get(s, s))}</li>" for s in scopes)
    else:
        scope_items = "<li>您账户角色的默认权限 · the default access of your account's role</li>"
    error_html = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · Sign in — creditgate</title><style nonce="{_e(style_nonce)}">{_STYLE}</style></head>
<body><main>
<h1>登录以授权 · Sign in to continue</h1>
<p><strong>{_e(client_name)}</strong> 请求以下权限 · asks for:</p>
<ul>{scope_items}</ul>
{error_html}
<form method="post" action="/oauth/authorize" autocomplete="off">
{hidden}<input type="hidden" name="form_token" value="{_e(form_token)}">
<label for="username">用户名 · Username</label>
<input type="text" id="username" name="username" value="{_e(username)}" required maxlength="64"
 autocapitalize="none" spellcheck="false" autocomplete="username">
<label for="password">密码 · Password</label>
<input type="password" id="password" name="password" required maxlength="256" autocomplete="current-password">
<div class="actions"><button type="submit" name="action" value="login">登录并授权 · Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate>取消 · Cancel</button></div>
</form>
<p><small>连续 {_FREE_FAILURES} 次输入错误后，本设备须等待 {_LOCK_MINUTES} 分钟（再错则加倍）才能再次尝试。
After {_FREE_FAILURES} wrong attempts in a row this device must wait {_LOCK_MINUTES} minute(s) (doubling with each
further failure) before trying again.</small></p>
</main></body></html>"""


def render_error(*, error: str, description: str, style_nonce: str) -> str:
    """A page for authorization errors that cannot be sent back to the client
    (unknown client, redirect URI not registered)."""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>授权请求无效 · Invalid request — creditgate</title>
<style nonce="{_e(style_nonce)}">{_STYLE}</style></head>
<body><main><h1>授权请求无效 · The authorization request is not valid</h1>
<p class="error" role="alert"><code>{_e(error)}</code>: {_e(description)}</p>
<p><small>请返回发起登录的应用重试。Go back to the application and try again.</small></p>
</main></body></html>"""
