"""Every comparison of a secret, a key or a signature takes constant time.

Two checks, so that neither a new comparison nor a changed old one slips through:

* a scan of the source of the layer, the functions, the local tools and the emitter: no
  ``==``, ``!=``, ``in`` or ``not in`` may have an operand that names a secret, or a value
  computed from one in the same function (a hash, an HMAC, a decoded header);
* a real call of every function that compares secrets today (found by the same scan: the
  functions that call ``hmac.compare_digest``), with a spy on ``hmac.compare_digest``,
  which must be what decides, for a right and a wrong value alike.

New keys compared in ``funnel.platform.auth`` are covered by both without changing this file: the
scan reads whatever the module holds, and the spy probes call the comparison there.
"""

from __future__ import annotations

import ast
import hmac
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

import funnel.platform.auth
import funnel.platform.signatures
import funnel.privacy.unsubscribe
from funnel.platform.errors import FunnelError
from tests.conftest import REPO

SCANNED = ("layers/funnel/funnel", "functions", "tools", "emitter")

# Names that hold secrets (or what is compared with them): whole words of a name, so a
# cache ``key`` or a ``visitor_key`` (a pseudonymous id) is not one, while an
# ``admin_api_key``, a ``webhook_key``, ``read_only_keys`` or ``given_mac`` are.
SECRET_NAME = re.compile(
    r"secret|signature|password|passwd|token|credential|digest|supplied|configured"
    r"|(^|_)h?mac($|_)|(api|admin|webhook|read|only|metrics|signing|secret)_?keys?($|_)",
    re.IGNORECASE,
)

# Comparisons the scan flags that are not of secrets, each with the reason.
NOT_SECRETS = {
    ("layers/funnel/funnel/webhooks/ingest.py", "_redelivery", "bytes(stored_digest) != digest"): (
        "the SHA-256 of two webhook bodies from the same authenticated sender, neither secret"
    ),
    ("layers/funnel/funnel/platform/http.py", "__call__", "kind not in refused"): (
        "which purposes of key (an enum) a route refuses, decided before any key is read"
    ),
    ("emitter/funnel_emitter/cli.py", "_deliver", "summary['delivered'] == summary['attempted']"): (
        "counts of a delivery pass of the outbox"
    ),
}


def _names(node: ast.AST) -> Iterator[str]:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            yield inner.id
        elif isinstance(inner, ast.Attribute):
            yield inner.attr


def _constant(node: ast.expr) -> bool:
    """A literal, ``None`` or an ALL_CAPS constant: comparing a secret with one of these
    (a version byte, an empty string) reveals nothing about the secret."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name | ast.Attribute):
        return (node.id if isinstance(node, ast.Name) else node.attr).isupper()
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_constant(element) for element in node.elts)
    return False


def _tainted(function: ast.AST) -> set[str]:
    """The names a function binds to secrets or to values computed from them."""
    bindings: list[tuple[list[ast.expr], ast.expr]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            bindings.append((node.targets, node.value))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            bindings.append(([node.target], node.value))
        elif isinstance(node, ast.For | ast.comprehension):
            bindings.append(([node.target], node.iter))
    tainted: set[str] = set()
    grew = True
    while grew:
        grew = False
        for targets, value in bindings:
            if any(SECRET_NAME.search(name) or name in tainted for name in _names(value)):
                for target in targets:
                    if isinstance(target, ast.Name | ast.Tuple | ast.List):
                        new = set(_names(target)) - tainted
                        tainted |= new
                        grew = grew or bool(new)
    return tainted


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def variable_time_comparisons(source: str) -> list[tuple[str, str]]:
    """``(function, comparison)`` for each ``==``/``!=``/``in``/``not in`` of a secret."""
    found: list[tuple[str, str]] = []
    for function in _functions(ast.parse(source)):
        tainted = _tainted(function)

        def secret(node: ast.expr, tainted: set[str] = tainted) -> bool:
            return any(SECRET_NAME.search(name) or name in tainted for name in _names(node))

        for node in ast.walk(function):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                if (
                    isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn)
                    and not (_constant(left) or _constant(right))
                    and (secret(left) or secret(right))
                ):
                    found.append((function.name, ast.unparse(node)))
    return found


def compare_digest_callers(source: str) -> set[str]:
    """The functions that call ``hmac.compare_digest``."""
    return {
        function.name
        for function in _functions(ast.parse(source))
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "hmac.compare_digest"
    }


def sources() -> Iterator[tuple[str, str]]:
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), path.read_text()


# --------------------------------------------------------------------------- the scan


def test_no_secret_is_compared_with_an_operator_that_stops_at_the_first_difference():
    # Given every module that ships or serves requests
    flagged = {
        (path, function, comparison)
        for path, source in sources()
        for function, comparison in variable_time_comparisons(source)
    }

    # Then the only comparisons of secret-looking values are the known non-secrets
    assert flagged == set(NOT_SECRETS)


@pytest.mark.parametrize(
    "comparison",
    [
        "if not hmac.compare_digest(expected, given):",
        "if expected != given:",
        "if supplied == configured:",
        "if given in expected_keys:",
    ],
)
def test_the_scan_sees_a_comparison_of_a_value_derived_from_a_secret(comparison):
    # Given the admin-key check, written with this comparison
    source = f"""
def check(configured, supplied):
    expected = hashlib.sha256(configured.encode()).digest()
    given = hashlib.sha256(supplied.encode()).digest()
    expected_keys = [expected]
    {comparison}
        raise Unauthorized()
"""
    # Then only the constant-time one passes the scan
    flagged = variable_time_comparisons(source)
    assert flagged == ([] if "compare_digest" in comparison else [("check", comparison[3:-1])])


def test_the_scan_ignores_dictionary_keys_visitor_keys_and_constants():
    source = """
def look(self, key, visitor_key, payload, TOKEN_VERSION):
    if key in self._entries and visitor_key == self.visitor_key:
        return payload[0] != TOKEN_VERSION or payload == b""
"""
    assert variable_time_comparisons(source) == []


# --------------------------------------------------------------------------- the calls


@pytest.fixture
def compare_digest_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """Every ``hmac.compare_digest`` call, which still does the comparison."""
    calls: list[tuple[object, object]] = []
    original = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
UNSUBSCRIBE_KEY = b"unsubscribe-key-of-32-characters"
NOW = datetime(2026, 2, 14, 12, tzinfo=UTC)
LEAD = UUID("0b7e2c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d")


AUTH = "layers/funnel/funnel/platform/auth.py"


def _accepted(check: Callable[[], object]) -> bool:
    """Whether a check accepted: it returned (anything but False) rather than refusing
    with one of our errors."""
    try:
        return check() is not False
    except FunnelError:
        return False


def _auth_checks(right: bool) -> bool:
    # Every comparison function of funnel.platform.auth (whatever keys it checks), as the scan
    # finds them, called as the guards call them: the configured keys (several may be
    # valid at once, for rotation), the supplied key.
    names = sorted(compare_digest_callers((REPO / AUTH).read_text()))
    assert names, "funnel.platform.auth compares no key with hmac.compare_digest"
    supplied = "configured-key-value" if right else "guessed"
    answers = {
        _accepted(lambda name=name: getattr(funnel.platform.auth, name)(["configured-key-value"], supplied))
        for name in names
    }
    assert len(answers) == 1, names
    return answers.pop()


def _webhook_signature(right: bool) -> bool:
    stamp = int(NOW.timestamp())
    signature = funnel.platform.signatures.sign(SIGNING_SECRET, "msg_1", stamp, "{}")
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature if right else signature[:-4] + "AAA=",
    }
    return _accepted(
        lambda: funnel.platform.signatures.verify(
            [SIGNING_SECRET], headers, "{}", now=stamp, tolerance_seconds=300
        )
    )


def _unsubscribe_token(right: bool) -> bool:
    token = funnel.privacy.unsubscribe.issue_token(LEAD, key=UNSUBSCRIBE_KEY, now=NOW)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    return _accepted(
        lambda: funnel.privacy.unsubscribe.read_token(
            token if right else forged, keys=[UNSUBSCRIBE_KEY], now=NOW
        )
    )


# Each module that compares secrets, and a call of its comparisons with a right or a
# wrong value.
PROBES: dict[tuple[str, str], Callable[[bool], bool]] = {
    (AUTH, "every comparison function"): _auth_checks,
    ("layers/funnel/funnel/platform/signatures.py", "verify"): _webhook_signature,
    ("layers/funnel/funnel/privacy/unsubscribe.py", "read_token"): _unsubscribe_token,
}


def test_every_function_that_compares_secrets_has_a_probe():
    callers = {
        (path, "every comparison function" if path == AUTH else name)
        for path, source in sources()
        for name in compare_digest_callers(source)
    }
    assert callers == set(PROBES)


@pytest.mark.parametrize("right", [True, False], ids=["right", "wrong"])
@pytest.mark.parametrize("probe", PROBES.values(), ids=[name for _, name in PROBES])
def test_compare_digest_decides_for_right_and_wrong_values(probe, right, compare_digest_calls):
    # When a right or a wrong secret is checked
    accepted = probe(right)

    # Then it is accepted or refused accordingly, hmac.compare_digest was called, and its
    # answer is the check's
    assert accepted is right
    assert compare_digest_calls
    assert any(a == b for a, b in compare_digest_calls) is right


def test_a_keys_length_does_not_show_either(compare_digest_calls):
    # When a short key is checked against a long one
    assert _auth_checks(right=False) is False

    # Then what is compared has the same length on both sides, and is not the key itself
    for configured, supplied in compare_digest_calls:
        assert isinstance(configured, bytes) and isinstance(supplied, bytes)
        assert len(configured) == len(supplied)
        assert supplied != b"guessed"
