"""How the client talks to a fake: one requests session, the base URL, the admin token on
the control API, and the client's errors for what goes wrong. The client's methods and its
event stream both go through ``Transport.request`` (public: nothing reaches into the
client)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from fakemms.client.errors import FakeMmsClientError, FakeMmsNotReachable, error_from, reason


class Transport:
    def __init__(self, url: str, timeout: float, *, session: requests.Session | None = None,
                 admin_token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.admin_token = admin_token
        self.owns_session = session is None
        if session is None:
            session = requests.Session()
            session.trust_env = False  # the fake is local: never through a proxy
        self.session = session

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, data: bytes | str | None = None,
                headers: Mapping[str, str] | None = None, stream: bool = False,
                timeout: Any = None) -> requests.Response:
        """One request to the fake; an HTTP error status becomes the client's error."""
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        timeout = self.timeout if timeout is None else timeout
        if self.admin_token and path.startswith("/_fakemms/api"):
            headers = {**(headers or {}), "Authorization": f"Bearer {self.admin_token}"}
        try:
            response = self.session.request(method, self.url + path, params=params or None,
                                            json=json_body, data=data, headers=headers,
                                            timeout=timeout, stream=stream)
        except requests.ConnectionError as exc:
            raise FakeMmsNotReachable(
                f"fakemms is not reachable at {self.url} ({reason(exc)})") from None
        except requests.Timeout:
            raise FakeMmsClientError(f"fakemms at {self.url} did not answer {method} {path} "
                                     f"in time") from None
        if response.status_code >= 400:
            try:
                raise error_from(response, method, path)
            finally:
                response.close()
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """``request``, the answer's JSON."""
        response = self.request(method, path, **kw)
        try:
            return response.json()
        except ValueError:
            raise FakeMmsClientError(
                f"{method} {path}: {self.url} answered HTTP {response.status_code} with "
                f"something that is not JSON (is it fakemms?)",
                status=response.status_code) from None

    def close(self) -> None:
        """Close the session's connections (when this transport made the session)."""
        if self.owns_session:
            self.session.close()
