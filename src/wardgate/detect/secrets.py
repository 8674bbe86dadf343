"""Secrets: credentials pasted into prompts or returned by models and APIs.

`find_secrets` runs one compiled regular expression (a single alternation with one named
branch per credential shape) over the text, then checks each candidate with a validator:
a checksum where the format has one (GitHub's classic tokens), a decode where the format
is structured (a JWT header must be JSON with ``alg``), and for values only known by the
key they are assigned to (``api_key = "..."``), Shannon entropy, length, character mix and
the key's name. Precision comes first: documentation placeholders (``your_api_key``,
``xxxx``, ``changeme``, ``${VAR}``, AWS's documented ``...EXAMPLE`` keys) are rejected,
and bare hashes, commit ids, UUIDs and base64 blobs are never reported, since nothing but
an assignment to a secret-looking name makes them secrets.

Spans cover the secret value only, not the name it is assigned to, as Python string
indices (code points) into the text, end exclusive.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
import re
import zlib
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from wardgate.detect.anchors import Anchor, AnchorScanner
from wardgate.detect.secret_formats import CONTEXT_FORMATS, IDENTIFIER_SCORE, TOKEN_FORMATS

__all__ = ["SecretMatch", "find_secrets"]


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """A credential found in a text.

    ``type`` is ``SECRET.<kind>`` (``SECRET.aws``, ``SECRET.github``, ``SECRET.generic``,
    ...); ``start``/``end`` are code-point indices into the text, end exclusive, around the
    value itself; ``score`` is the confidence in 0..1 (1.0 for a verified checksum, about
    0.9 for an unambiguous provider prefix, less for context-only findings).
    """

    type: str
    start: int
    end: int
    score: float


_B64 = r"A-Za-z0-9+/"
_URLSAFE = r"A-Za-z0-9_\-"
_END = r"(?![A-Za-z0-9_\-])"
_WORDISH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

# "Password" in the languages prompts arrive in (an assignment's name, a sentence's subject).
_PASSWORD_WORDS = (
    r"passw(?:or)?d|passwort|kennwort|wachtwoord|contrase[nñ]a|senha|mot[_\-. ]de[_\-. ]passe"
    r"|has[lł]o|пароль"
)
_NAMES_PASSWORD = re.compile(r"(?i:pass|pwd|(?:^|[_\-.])pw(?![a-z])|" + _PASSWORD_WORDS + ")")
# Secret-looking names for context-only values. `key`/`pass` alone are too common in code.
_KEYNAME = (
    r"(?i:api[_\-.]?key|apikey|secret|token|"
    + _PASSWORD_WORDS
    + r"|pwd|credentials?|[_\-.]pass(?![a-z])|[_\-.]pw(?![a-z])"
    r"|(?:private|auth|access|client|preshared|encryption|signing|master|license|account|app"
    r"|provision[_\-.]?device|unseal)[_\-. ]?key(?: [0-9]{1,2})?|reporter[_\-.]?id|crumb"
    r"|sonar[_\-.]?login)"
)

# Kind -> pattern of the value. Every branch starts with a literal so that the regex engine
# skips most positions cheaply; left word boundaries are checked in code (`_BOUNDED`) for the
# same reason, and context-only values are found from their assignment operator, the name
# being read back from the text before it.
# Kind -> pattern of the value. A branch whose value follows a context prefix puts the value
# in the group `<kind>_v`, so its span excludes the prefix.
_BRANCHES: dict[str, str] = {
    "pem": (
        r"-----BEGIN (?P<pem_t>(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?)"
        r"-----[\s\S]{16,16384}?-----END (?P=pem_t)-----"
    ),
    "putty": r"PuTTY-User-Key-File-[23]: [\s\S]{16,8192}?Private-Lines: [0-9]+\r?\n["
    + _B64
    + r"=\r\n]{40,8192}",
    "pem_b64": r"LS0tLS1CRUdJTi(?:[" + _B64 + r"]|\r?\n|\\n){60,20000}={0,2}",
    "password_hash": (
        r"\$(?:[156]\$(?:rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,86}"
        r"|2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}|[89]\$[./A-Za-z0-9]{14}\$[./A-Za-z0-9]{43}"
        r"|y\$[./A-Za-z0-9]{1,20}\$[./A-Za-z0-9]{1,64}\$[./A-Za-z0-9]{43}"
        r"|argon2(?:id|i|d)\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$["
        + _B64
        + r"]{11,}\$["
        + _B64
        + r"]{16,}"
        r"|krb5asrep\$(?:17|18|23)\$(?:[^\s:$]{1,128}:)?[0-9a-fA-F]{24,32}\$[0-9a-fA-F]{64,8192})"
    ),
    "aws_id": r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}" + _END,
    "gcp_api": r"AIza[" + _URLSAFE + r"]{35}" + _END,
    "azure_key": (r"(?:AccountKey|SharedAccessKey)=(?P<azure_key_v>[" + _B64 + r"]{40,100}={0,2})"),
    "azure_sas": r"[?&]sig=(?P<azure_sas_v>[A-Za-z0-9%+/]{40,100}(?:%3[Dd]|=){0,2})",
    "github": r"(?:gh[pousr]_[A-Za-z0-9]{36}|ghr_[A-Za-z0-9]{76})" + _END,
    "github_pat": r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _END,
    "gitlab": r"gl(?:pat|dt|ptt|rt|cbt|imt|oas|soat|ffct)-[" + _URLSAFE + r"]{20,64}" + _END,
    "slack": (
        r"(?:xox[abposre]-(?:[0-9]{1,14}-){1,3}[A-Za-z0-9]{18,200}|xoxe\.xox[bp]-1-[A-Za-z0-9\-]{60,300}"
        r"|xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[0-9a-f]{64})" + _END
    ),
    "slack_hook": (
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/"
        r"[A-Z0-9]{6,12}/[A-Za-z0-9]{20,30}"
    ),
    "stripe": r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{20,100}" + _END,
    "anthropic": r"sk-ant-[a-z]{3,8}[0-9]{2}-[" + _URLSAFE + r"]{40,120}" + _END,
    "openai": (
        r"sk-(?:(?:proj|svcacct|admin)-[" + _URLSAFE + r"]{40,200}"
        r"|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})" + _END
    ),
    "huggingface": r"(?:hf_|api_org_)[A-Za-z0-9]{34}" + _END,
    "twilio": r"\b(?:SK|AC)[0-9a-f]{32}\b",
    "sendgrid": r"SG\.[" + _URLSAFE + r"]{22}\.[" + _URLSAFE + r"]{43}" + _END,
    "npm": r"npm_[A-Za-z0-9]{36}" + _END,
    "pypi": r"pypi-AgEIcHlwaS5vcmc[" + _URLSAFE + r"]{50,300}" + _END,
    **{f.kind: f"(?:{f.pattern}){_END}" for f in TOKEN_FORMATS},
    "django": r"django-insecure-[^\s\"'`]{40,60}(?=[\"'`\s]|\Z)",
    "jwt": (r"eyJ[" + _URLSAFE + r"]{8,}\.[" + _URLSAFE + r"]{4,}\.[" + _URLSAFE + r"]*" + _END),
    "url_password": (
        r"://[^\s:/@'\"<>]{0,64}:"
        r"(?P<url_password_v>[^\s/'\"<>]{1,128})@[A-Za-z0-9\[]"
    ),
    "basic_auth": r"\b(?i:basic)[ \t]+(?P<basic_auth_v>["
    + _B64
    + r"]{8,400}={0,2})(?!["
    + _B64
    + r"=])",
    "bearer": (
        r"\b(?i:bearer)[ \t]+(?P<bearer_v>[A-Za-z0-9_\-.~+/]{12,1000}=*)(?![A-Za-z0-9_\-.~+/=])"
    ),
    "netrc": r"\blogin[ \t\r\n]+\S{1,64}[ \t\r\n]+password[ \t\r\n]+(?P<netrc_v>[^\s\"']{1,128})",
    "cli_flag": (
        r"(?<![A-Za-z0-9_\-])--?(?P<cli_flag_k>(?:[A-Za-z0-9]{1,20}[_\-]){0,3}"
        r"(?:[a-z0-9]{1,20}(?=[A-Z]))?(?i:password|passwd|pass|pwd|token|secret|api-?key"
        r"|access-?token|auth-?token|client-?secret))(?:=|[ \t]+)(?P<cli_flag_q>[\"']?)"
        r"(?P<cli_flag_v>[^\s\"'`;|&<>()$-][^\s\"'`;|&<>()]{2,127})"
    ),
    "user_pass": (
        r"(?<![A-Za-z0-9_\-])(?:-u|--user)[ \t]+(?:\"[^\"\s]{1,64}\"|[^\s\"':]{1,64})[ \t]+-p[ \t]*"
        r"(?P<user_pass_q>[\"']?)(?P<user_pass_v>[^\s\"'`;|&<>()$-][^\s\"'`;|&<>()]{2,127})"
    ),
    "curl_user": (
        r"(?<![A-Za-z0-9_\-])(?:-u|--user)[ \t]+[\"']?[^\s:\"']{1,64}:"
        r"(?P<curl_user_v>[^\s\"'`;|&<>()$][^\s\"'`;|&<>()]{2,127})"
    ),
    # Tools whose own flag takes the password, written as a command (at a line's start or
    # after `;`, `|`, `$`, a quote, ..., so that the match starts at its anchor): `sshpass
    # -p`, `redis-cli -a`, MySQL's `-p` with the value attached (a bare `-p` prompts), `net
    # use \\host\share <password>` and `net use ... /user:name <password>`, `net user <name>
    # <password>`, `htpasswd -b [file] <user> <password>` (`-n` takes no file), PowerShell's
    # `ConvertTo-SecureString "..." -AsPlainText`.
    "tool_password": (
        r"(?:^|(?<=[\n;&|(`\"'$>:])|(?<=[\n;&|(`\"'$>:][ \t])|(?<=[\n;&|(`\"'$>:][ \t]{2})"
        r"|(?<=\n[ \t]{3})|(?<=\n[ \t]{4})|(?<=sudo[ \t])|(?<=RUN[ \t])|(?<=/[cCk][ \t])"
        r"|(?<=/bin/)|(?<=\n- )|(?<=\n\* )|(?<=\d\. ))"
        r"(?:sshpass(?:[ \t]+-v)*[ \t]+-p[ \t]*|redis-cli\b[^\n|;&]{0,80}?[ \t]-a[ \t]+"
        r"|(?:mysql(?:dump|admin|import|check|show|slap)?|mariadb(?:-dump|-admin)?)\b"
        r"[^\n|;&]{0,80}?[ \t]-p(?=\S)"
        r"|(?i:net)(?:\.exe)?[ \t]+(?i:use)\b[^\n|;&]{0,120}?[ \t]/(?i:user):\S{1,64}[ \t]+"
        r"|(?i:net)(?:\.exe)?[ \t]+(?i:use)[ \t]+(?:[A-Za-z]:[ \t]+)?\\\\\S{1,200}[ \t]+"
        r"|(?:net|NET)(?:\.exe|\.EXE)?[ \t]+(?:user|USER)[ \t]+"
        r"(?:\"[^\"\n]{1,64}\"|[^\s/\"\[{<]{1,64})[ \t]+(?![\[{<])"
        # htpasswd's flags (`-C 10` and `-r 3` take a number), at most six, ten letters each:
        # with `-n` the user and password follow, without it a file comes first.
        r"|htpasswd(?=(?:[ \t]+-[A-Za-z]{1,10}(?:[ \t]+\d{1,3})?){0,5}[ \t]+-[A-Za-z]{0,9}b)"
        r"(?:(?=(?:[ \t]+-[A-Za-z]{1,10}(?:[ \t]+\d{1,3})?){0,5}[ \t]+-[A-Za-z]{0,9}n)"
        r"(?:[ \t]+-[A-Za-z]{1,10}(?:[ \t]+\d{1,3})?){1,6}[ \t]+\S{1,64}[ \t]+"
        r"|(?:[ \t]+-[A-Za-z]{1,10}(?:[ \t]+\d{1,3})?){1,6}[ \t]+\S{1,200}[ \t]+\S{1,64}[ \t]+)"
        r"|(?i:ConvertTo-SecureString)(?:[ \t]+-\w+)*?[ \t]+(?:-String[ \t]+)?(?=[\"']))"
        r"(?:(?P<tool_password_q>[\"'])|)(?P<tool_password_v>(?(tool_password_q)[^\n\"']{3,128}"
        r"|[^\s\"'`;|&<>()$/\-][^\s\"'`;|&<>()]{2,127}))(?(tool_password_q)(?P=tool_password_q))"
    ),
    # ODBC quotes a value holding `;` in braces, doubling a closing one: `;PWD={p@ss;w0rd};`.
    # Only as a pair of a connection string (`;` or a quote before, no blanks around `=`):
    # `password = { required: true }` and JSX's `password={value}` are code.
    "odbc_braced": (
        r"(?:^|(?<=[;\"']))[ \t]*(?i:pwd|password)=\{(?P<odbc_braced_v>(?:[^}\r\n]|\}\}){1,128})"
        r"\}(?=[;\"'\s]|\Z)"
    ),
    "dotnet_cred": (
        r"\b(?:NetworkCredential\(\s{0,40}|DirectoryEntry\(\s{0,40}\"[^\"\n]{1,200}\",\s{0,40})"
        r"\"[^\"\n]{1,64}\",\s{0,40}\"(?P<dotnet_cred_v>[^\"\n]{1,128})\""
    ),
    "xml_kv": (
        r"\b(?i:key|name)[ \t]*=[ \t]*[\"'](?P<xml_kv_k>[^\"'\n]{0,60}?"
        r"(?i:password|passwd|pwd|secret|token|api_?key|apikey|credential)[^\"'\n]{0,30})[\"']"
        r"[ \t]+(?i:value)[ \t]*=[ \t]*[\"'](?P<xml_kv_v>[^\"'\n]{1,200})[\"']"
    ),
    "xml_elem": (
        r"<(?P<xml_elem_k>[A-Za-z_:.\-]{0,30}(?i:password|passwd|pwd|secret|token|api_?key|apikey)"
        r"[A-Za-z_.\-]{0,20})>(?P<xml_elem_v>[^<\s]{1,200})</"
    ),
    "spaced": (
        r"\b(?P<spaced_k>[A-Za-z0-9_.\-]{0,30}(?i:password|passwd|secret|token|api_?key)"
        r"[A-Za-z0-9_]{0,24})[ \t]+(?P<spaced_q>[\"'])(?P<spaced_v>[^\"'\s]{3,199})(?P=spaced_q)"
    ),
    # `config.set("api_token", "...")`, `setenv('DB_PASSWORD', '...')`, Gradle's
    # `property 'sonar.login', '...'`: a call's quoted secret name, a comma, a quoted value.
    # Only as a call's first arguments: a list of field names (`['password', 'last_login']`)
    # pairs names, not a name and its value.
    "call_pair": (
        r"(?:(?<=[A-Za-z0-9_][( ])|(?<=\([ \t\n])|\A)[\"']?(?P<call_pair_k>[A-Za-z0-9_.\-]{0,30}"
        r"(?i:password|passwd|pwd|secret|token|api[_\-.]?key|apikey|credential|sonar[_\-.]login)"
        r"[A-Za-z0-9_.\-]{0,24})[\"'][ \t]{0,8},[ \t]{0,8}"
        r"(?P<call_pair_q>[\"'])(?:\\?[\"'])?(?P<call_pair_v>[^\"'\s\\,]{3,199})"
        r"(?=\\?(?P=call_pair_q)[ \t]*(?:[),]|\n|\Z)|\Z)"
    ),
    "thingsboard": (
        r"/api/v1/(?P<thingsboard_v>[A-Za-z0-9]{20})/(?:telemetry|attributes|rpc|claim)\b"
    ),
    "truenas": (
        r"login_with_api_key[\"'],[\s\S]{0,60}?[\"'](?P<truenas_v>[0-9]{1,4}-[A-Za-z0-9]{64})[\"']"
    ),
    "okta": r"\bSSWS[ \t]+(?P<okta_v>00[A-Za-z0-9_\-]{40})" + _END,
    "jenkins": (
        r"(?i:password to proceed to installation:)\s{1,8}(?P<jenkins_v>[0-9a-f]{32})" + _END
    ),
    "vault_unseal": (
        r"\b(?i:unseal)[ \t]+(?P<vault_unseal_v>[A-Za-z0-9+/]{43,44}={0,2})(?![A-Za-z0-9+/=])"
    ),
    "prose": (
        r"\b(?i:pass(?:phrase|code)|"
        + _PASSWORD_WORDS
        + r")\b[^\n.;!?]{0,60}?[ \t](?i:is|was|est|était|ist|war|lautet|es|era|é|è|jest|är|er"
        r"|это)[ \t:]+"
        r"(?:(?P<prose_q>[\"'`])|)(?P<prose_v>(?(prose_q)[^\"'`\n]{3,64}|[^\s\"'`]{6,64}?))"
        r"(?(prose_q)(?P=prose_q)|(?=[.,;:)]?(?:\s|\Z)))"
    ),
    "generic": (
        r"(?::=|=>|=|:)(?:[ \t]{0,32}|\s{0,4})(?!(?i:bearer|basic)\s)"
        r"(?P<generic_q>\\?[\"'`]|)(?P<generic_v>[^\s\"'`,;\-\\][^\s\"'`,;\\]{5,199})"
    ),
}

# Non-capturing branches: CPython's engine runs a plain alternation about five times faster
# than one of named groups; the branch that matched is found again on the (few) candidates.
_PATTERN = re.compile("|".join(f"(?:{body})" for body in _BRANCHES.values()))
_COMPILED = {kind: re.compile(body) for kind, body in _BRANCHES.items()}
_KIND_OF = {pattern: kind for kind, pattern in _COMPILED.items()}
_OPERATOR_KINDS = ("url_password", "generic")
# The branches an `=` or `:` can anchor: those whose own text holds one (group syntax such
# as `(?:` aside), unless a strong anchor of their own always comes with it. Every other
# branch begins with, or holds, a strong anchor of its own.
_ANCHORED_ELSEWHERE = frozenset({"aws_arn", "tool_password", "odbc_braced"})
_ASSIGNMENT_PATTERN = re.compile(
    "|".join(
        f"(?:{body})"
        for kind, body in _BRANCHES.items()
        if kind not in _ANCHORED_ELSEWHERE
        and re.search(r"[=:]", re.sub(r"\(\?(?:[:=!]|P<\w+>|P=\w+\)|[aiLmsux]+[:)])", "", body))
    )
)
_CONTEXTUAL = frozenset(
    {
        "generic", "azure_key", "azure_sas", "basic_auth", "bearer", "netrc", "cli_flag",
        "user_pass", "curl_user", "tool_password", "odbc_braced", "dotnet_cred", "xml_kv",
        "xml_elem", "spaced", "call_pair", "truenas", "prose",
    }
)  # fmt: skip
# Identifiers are not looked for inside another secret's value: a password ending in
# `x.myshopify.com` is a password, not a shop.
_IDENTIFIERS = frozenset(f.kind for f in TOKEN_FORMATS if f.identifier)
_NOT_SPECIFIC = _CONTEXTUAL | _IDENTIFIERS
_SPECIFIC = re.compile(
    "|".join(f"(?:{body})" for kind, body in _BRANCHES.items() if kind not in _NOT_SPECIFIC)
)

# Each branch begins with one of these (or, for assignments, `=` or `:` a little after its
# start: `SharedAccessKey=`; for commands and markup, the secret-ish word a little after).
# Tokens have no spaces, so a window reaching the next whitespace holds them whole; a PEM
# block needs its full length, a command line its arguments.
_ANCHORS = AnchorScanner(
    [
        Anchor("-----BEGIN", 0, 16_500),
        Anchor("PuTTY-User-Key-File-", 0, 8_300),
        Anchor("LS0tLS1CRUdJTi", 0, 20_100),
        *(
            Anchor(prefix, 0, 8)
            for prefix in (
                "AKIA", "ASIA", "ABIA", "ACCA", "AIza", "gh[pousr]_", "github_pat_", "gl[a-z]",
                "xox", "xapp-", "sk-", "hf_", "api_org_", "SK", "AC", "SG.", "npm_", "pypi-", "eyJ",
                "$[15689y]$", "$2[abxy]$", "$argon2", "$krb5asrep$",
            )
        ),
        *(Anchor(f.anchor, f.before, 8) for f in TOKEN_FORMATS),
        Anchor("_live_", 2, 8),
        Anchor("_test_", 2, 8),
        Anchor("hooks.slack.com", 8, 8),
        Anchor("basic ", 0, 8, caseless=True),
        Anchor("bearer ", 0, 8, caseless=True),
        Anchor("login", 0, 100),
        Anchor("-u", 0, 140),
        *(
            Anchor(word, 40, 8, caseless=True)
            for word in ("pass", "pwd", "secret", "token", "api_key", "apikey", "api-key",
                         "credential", "_pw", ".pw", "-pw")
        ),
        *(Anchor(tool, 0, 200) for tool in ("sshpass", "redis-cli", "mysql")),
        Anchor("net use", 0, 200, caseless=True),
        Anchor("net user", 0, 200, caseless=True),
        Anchor("net.exe", 0, 200, caseless=True),
        Anchor("htpasswd", 0, 400),
        Anchor("ConvertTo-SecureString", 0, 200, caseless=True),
        Anchor("pwd={", 0, 140, caseless=True),
        Anchor("password={", 0, 140, caseless=True),
        Anchor("NetworkCredential(", 0, 200),
        Anchor("DirectoryEntry(", 0, 320),
        Anchor("/api/v1/", 0, 8),
        Anchor("login_with_api_key", 0, 120),
        Anchor("sonar", 34, 120, caseless=True),
        Anchor("SSWS", 0, 8),
        Anchor("proceed to installation", 30, 16, caseless=True),
        Anchor("unseal", 0, 8, caseless=True),
        Anchor("django-insecure-", 0, 8),
        # "the password for user 'admin' is 'hunter22'": the value comes a sentence later.
        *(Anchor(word, 0, 100, caseless=True) for word in ("password", "passwd", "passphrase",
                                                          "passcode", "passwort", "kennwort",
                                                          "wachtwoord", "contrase", "senha",
                                                          "mot de passe", "haslo")),
        Anchor("[=:]", 16, 8, weak=True),
    ]
)  # fmt: skip

_TYPE = {
    "pem": "SECRET.private_key",
    "putty": "SECRET.private_key",
    "pem_b64": "SECRET.private_key",
    "password_hash": "SECRET.password_hash",
    "aws_id": "SECRET.aws",
    "gcp_api": "SECRET.gcp",
    "azure_key": "SECRET.azure",
    "azure_sas": "SECRET.azure",
    "github": "SECRET.github",
    "github_pat": "SECRET.github",
    "gitlab": "SECRET.gitlab",
    "slack": "SECRET.slack",
    "slack_hook": "SECRET.slack",
    "stripe": "SECRET.stripe",
    "anthropic": "SECRET.anthropic",
    "openai": "SECRET.openai",
    "huggingface": "SECRET.huggingface",
    "twilio": "SECRET.twilio",
    "sendgrid": "SECRET.sendgrid",
    "npm": "SECRET.npm",
    "pypi": "SECRET.pypi",
    **{f.kind: f"SECRET.{f.provider}" for f in TOKEN_FORMATS},
    "django": "SECRET.django",
    "jwt": "SECRET.jwt",
    "url_password": "SECRET.url_password",
    "basic_auth": "SECRET.basic_auth",
    "bearer": "SECRET.bearer_token",
    "netrc": "SECRET.password",
    "cli_flag": "SECRET.password",
    "user_pass": "SECRET.password",
    "curl_user": "SECRET.password",
    "tool_password": "SECRET.password",
    "odbc_braced": "SECRET.password",
    "dotnet_cred": "SECRET.password",
    "xml_kv": "SECRET.generic",
    "xml_elem": "SECRET.generic",
    "spaced": "SECRET.generic",
    "call_pair": "SECRET.generic",
    "thingsboard": "SECRET.thingsboard",
    "truenas": "SECRET.truenas",
    "okta": "SECRET.okta",
    "jenkins": "SECRET.jenkins",
    "vault_unseal": "SECRET.hashicorp",
    "prose": "SECRET.password",
    "generic": "SECRET.generic",
}

_BOUNDED = frozenset(_BRANCHES) - {
    "pem",
    "azure_key",
    "azure_sas",
    "slack_hook",
    "url_password",
    "generic",
    "password_hash",
    "thingsboard",
    "xml_elem",
    "call_pair",
    "msteams",
    "cli_flag",
    "user_pass",
    "curl_user",
    "tool_password",
    "odbc_braced",
    "prose",
}
# Aligned assignments pad the name with spaces; a comparison (`password == "..."`, or
# `!=`) checks against a hard-coded value as surely as an assignment sets one. JSON inside
# a JSON string (a tool's arguments, a log line) escapes its quotes: `\"password\": \"...\"`.
# What every name `_KEYNAME` takes holds, lower-cased: most `=` and `:` of code and text
# follow none, and looking for these costs a tenth of `_KEY_BEFORE`'s search.
_KEY_HINTS = (
    "key", "secret", "token", "pass", "pw", "wort", "woord", "contrase", "senha", "hasl",
    "hasł", "пароль", "credential", "reporter", "crumb", "sonar",
)  # fmt: skip
_KEY_BEFORE = re.compile(_KEYNAME + r"[A-Za-z0-9_\-.]{0,24}\\?[\"'`\]]?\s{0,16}!?={0,2}\Z")
# A value a `.env` line (`UPPER_NAME=value`, also commented out), an INI line
# (`Password=value`, no blanks around `=`) or a connection string (`;Pwd=value;`) sets is
# a literal even unquoted: there is no code there for a bare word to refer to.
_ENV_NAME = r"(?:export[ \t]+)?[A-Z][A-Z0-9_]*"
_LITERAL_BEFORE = re.compile(rf"(?:\n[ \t]*(?:#[ \t]*)?{_ENV_NAME}|;[ \t]*[A-Za-z][\w ]*)\Z")
# The same `.env` name, not commented out: where a quoted value is a literal too.
_ENV_LINE = re.compile(rf"\n[ \t]*{_ENV_NAME}\Z")
_SETTING_NAME = re.compile(
    r"(?i)[_\-.](?:hash\w*|policy|reset|store|encoding|algorithm|length|min|max|expiry"
    r"|expires|rules?|type|mode|format|hint|label)$"
)
# An INI line holds the value to its end; a keyword argument on a line of its own
# (`password=default_pw,`) goes on with a comma or a bracket.
_INI_BEFORE = re.compile(r"\n[ \t]*[A-Za-z][\w.\-]*\Z")
_IN_PAIRS_BEFORE = re.compile(r";[ \t]*[A-Za-z][\w ]*\Z")
_PAIR_BEFORE = re.compile(r"(?:\n|[\"'])[ \t]*[A-Za-z][\w ]*\Z")
_CONTEXT_FORMATS = tuple(
    (
        re.compile(f.key, re.IGNORECASE),
        re.compile(f.value),
        f"SECRET.{f.provider}",
        f.score,
        f.identifier,
    )
    for f in CONTEXT_FORMATS
)
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")

# What says a value is not filled in: masks, ellipses, template syntax of the usual
# languages (`${X}`, `{{x}}`, `#{x}`, `<x>`, `%(x)s`, `%X%`, `@X@`, `{x}`).
_TEMPLATE_MARKS = (
    r"[xX]{4,}|\*{3,}|\.{3}|\u2026|\$\{|\$\(|\{\{|#\{|<[^>]*>|%\(\w+\)[sdifr]|%[A-Z_]{2,}%"
    r"|@[A-Za-z_]+@|^\{[A-Za-z_][A-Za-z0-9_.]*\}$"
)
_TEMPLATE = re.compile(_TEMPLATE_MARKS)
_PLACEHOLDER = re.compile(
    r"(?i)" + _TEMPLATE_MARKS + r"|example|sample|dummy|placeholder|changeme|change_me|your"
    r"|redacted|insert|replace|fake|test_?key|^[{(\[]?\$[A-Za-z_]|\$_[A-Z]{3,}|^arn:"
    r"|^(?:null|none|nil|true|false|undefined|empty|required|optional|todo|tbd|string|str|bytes"
    r"|env|(?:my|the|new|old|some|user|admin|db|a)?[_\-]?(?:secret|password|passwd|pass|pwd"
    r"|token|api[_\-]?key|key|value)(?:[_\-]?(?:here|goes[_\-]?here))?)$"
)
_SLOT_NAME = re.compile(r"(?i)(?:your|my|the|db|user)?[_\-]?(?:password|passwd|pass|pwd|pw)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.\[(][A-Za-z0-9_.\[\]()'\"]*)?")
_CODE_REFERENCE = re.compile(
    r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+(?:\(.*\)|\[.*\])?\)?"
    r"|[A-Za-z_$][A-Za-z0-9_.$]*(?:\(.*\)|\[.*\])\)?"
)
# A value that begins like a provider's token but did not match its shape is a truncated,
# masked or made-up one: the generic branch must not report it either.
_PROVIDER_PREFIX = re.compile(
    r"(?:xox[a-z]-|xapp-|gh[pousr]_|github_pat_|gl[a-z]{2,4}-|hv[sbr]\.|[sr]k_(?:live|test)_"
    r"|npm_|pypi-|AKIA|ASIA|AIza|SG\.|hf_|sk-|do[opr]_v1_|shp(?:at|ss|ca|pa)_|NR[A-Z]{2}-|PMAK-"
    r"|lin_api_|dp\.(?:ct|pt|st|sa)\.|px-(?:api|dep)-|glsa_|dckr_pat_)"
)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# The strong-anchor windows of the text `find_secrets` is scanning (None outside a scan).
_STRONG_WINDOWS: ContextVar[list[tuple[int, int]] | None] = ContextVar(
    "_STRONG_WINDOWS", default=None
)


def find_secrets(text: str) -> list[SecretMatch]:
    """Find credentials in ``text``, in order of position, without overlaps.

    Pure and total: any string, the empty one and lone surrogates included, gives a list.
    One regular-expression pass with bounded repetitions, then per-candidate validators.

    >>> find_secrets("key: AKIAZ7QW3RTYUIOP2ASD")[0].type
    'SECRET.aws'
    """
    every, strong = _ANCHORS.split_windows(text)
    token = _STRONG_WINDOWS.set(strong)
    try:
        # Code and configuration are full of `=` and `:`; around those alone only the shapes
        # that hold one can match, so the whole alternation (5x dearer) runs only around
        # strong anchors, and the two scans' findings are merged leftmost first.
        found = _scan(text, _PATTERN, strong)
        if every is not strong:
            found = _leftmost(found + _scan(text, _ASSIGNMENT_PATTERN, every))
    finally:
        _STRONG_WINDOWS.reset(token)
    return found


def _scan(text: str, pattern: re.Pattern[str], windows: list[tuple[int, int]]) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    for low, high in windows:
        position = low
        while (candidate := pattern.search(text, position, high)) is not None:
            result = _judged(text, candidate.start())
            if result is None:
                # A rejected candidate may hide one that starts inside it (`url: http://h/api/v1/
                # <token>/...`, `Authorization: Bearer ...`): look again one character on.
                position = candidate.start() + 1
            else:
                found.append(result)
                position = max(candidate.end(), result.end)
    return found


def _leftmost(found: list[SecretMatch]) -> list[SecretMatch]:
    """Findings without overlaps: the leftmost, then the longest, wins."""
    kept: list[SecretMatch] = []
    for match in sorted(set(found), key=lambda m: (m.start, -m.end)):
        if not kept or match.start >= kept[-1].end:
            kept.append(match)
    return kept


def _judged(text: str, pos: int) -> SecretMatch | None:
    found_kind = _which(text, pos)
    if found_kind is None:
        return None
    kind, match = found_kind
    start, end = match.span(kind + "_v" if kind + "_v" in match.re.groupindex else 0)
    if kind in _BOUNDED and start and text[start - 1] in _WORDISH:
        return None
    found = _VALIDATORS[kind](match, text[start:end], start)
    if found is not None and found.score < _IN_URL and text[found.end : found.end + 1] == "@":
        # A token written as a URL's user (`https://ghs_...@github.com`) is a credential
        # in a URL, which outranks the e-mail address its `user@host` tail resembles.
        return SecretMatch(found.type, found.start, found.end, _IN_URL)
    return found


def _which(
    text: str, pos: int, skip: frozenset[str] = frozenset()
) -> tuple[str, re.Match[str]] | None:
    """The branch the alternation took at ``pos``: the first one, in order, that matches."""
    # Most candidates are assignment operators, which only two branches can begin with.
    kinds = _OPERATOR_KINDS if text[pos : pos + 1] in (":", "=") else _COMPILED
    for kind in kinds:
        pattern = _COMPILED[kind]
        if kind not in skip:
            match = pattern.match(text, pos)
            if match is not None:
                return kind, match
    return None


def _specific(value: str, offset: int) -> SecretMatch | None:
    """A provider-shaped token inside a keyed value keeps its provider type (the keyed
    value's finding would otherwise win over the scan's own finding of the token, as
    `password=[sk_live_...]` or `token = https://x/?key=ghp_...`). Only keyed values are
    searched: searching every value (up to 200 characters after each `=` or `:`) made runs
    of operators and anchors cost quadratic time."""
    windows = _STRONG_WINDOWS.get()
    if windows is not None:
        # Every provider token holds a strong anchor: a value that no strong window reaches
        # holds none (and a run of `:` would search each of its values, quadratic).
        last = bisect.bisect_left(windows, (offset + len(value),)) - 1
        if last < 0 or windows[last][1] <= offset:
            return None
    candidate = _SPECIFIC.search(value)
    found_kind = None if candidate is None else _which(value, candidate.start(), _NOT_SPECIFIC)
    if found_kind is None:
        return None
    kind, inner = found_kind
    if kind in _BOUNDED and inner.start() and value[inner.start() - 1] in _WORDISH:
        return None
    begin, end = inner.span(kind + "_v" if kind + "_v" in inner.re.groupindex else 0)
    return _VALIDATORS[kind](inner, value[begin:end], offset + begin)


_IN_URL = 0.97


# What says an identifier is not an organisation's own: AWS's documented example accounts
# and LocalStack's, an account of one or two repeated digits, template and tutorial words,
# a shop named like a tutorial's or a test store.
_EXAMPLE_ACCOUNT = re.compile(
    r"(?<![0-9])(?:123456789012|111122223333|444455556666|([0-9])\1{11}|(?=[0-9]{12}(?![0-9]))"
    r"(?:([0-9])\2*([0-9])(?:\2|\3)*))(?![0-9])"
)
_IDENTIFIER_PLACEHOLDER = re.compile(
    r"(?i)" + _TEMPLATE_MARKS + r"|example|sample|dummy|placeholder|changeme|your|my[_\-]?app"
)
_DEMO_SHOP = re.compile(
    r"(?i)^(?:[a-z0-9\-]*-)?(?:my|your|some|the|a|demo|test|dev|staging|sandbox|preview)"
    r"(?:-(?:store|shop|app))?(?:-[a-z0-9\-]*)?\.myshopify\."
)


def _identifier_refused(value: str) -> bool:
    return bool(
        _IDENTIFIER_PLACEHOLDER.search(value)
        or _EXAMPLE_ACCOUNT.search(value)
        or _DEMO_SHOP.search(value)
        or _CODE_REFERENCE.fullmatch(value)
    )


def _identifier(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _identifier_refused(value):
        return None
    return SecretMatch(_TYPE[_KIND_OF[match.re]], start, start + len(value), IDENTIFIER_SCORE)


def _fixed(score: float) -> Callable[[re.Match[str], str, int], SecretMatch | None]:
    def validate(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
        if _PLACEHOLDER.search(value):
            return None
        return SecretMatch(_TYPE[_KIND_OF[match.re]], start, start + len(value), score)

    return validate


def _pem(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    body = value.split("-----")[2] if value.count("-----") >= 4 else ""
    if sum(c.isalnum() for c in body) < 16 or _PLACEHOLDER.search(body):
        return None
    return SecretMatch("SECRET.private_key", start, start + len(value), 1.0)


def _password_hash(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    digest = value.rsplit("$", 1)[-1]
    if _repetitive(digest) or _PLACEHOLDER.search(digest):
        return None
    return SecretMatch("SECRET.password_hash", start, start + len(value), 0.9)


def _aws_id(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    # AWS's documentation keys (AKIAIOSFODNN7EXAMPLE) are public: not a leak.
    if value.endswith("EXAMPLE"):
        return None
    return SecretMatch("SECRET.aws", start, start + len(value), 0.95)


def _github_checksum_ok(token: str) -> bool:
    """True when a classic GitHub token's last six characters are the base62 CRC32 of the
    thirty characters between the prefix and them."""
    body, check = token[4:34], token[34:]
    crc = zlib.crc32(body.encode("ascii"))
    digits = ""
    while crc:
        crc, rest = divmod(crc, 62)
        digits = _BASE62[rest] + digits
    return digits.rjust(6, "0") == check


def _github(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value[4:]):
        return None
    # The prefix alone is specific; a valid checksum makes the token certain.
    score = 1.0 if _github_checksum_ok(value) else 0.8
    return SecretMatch("SECRET.github", start, start + len(value), score)


def _openai(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value[3:]):
        return None
    if "T3BlbkFJ" in value:
        score = 1.0
    elif value.startswith(("sk-proj-", "sk-svcacct-", "sk-admin-")):
        score = 0.9
    elif _entropy(value[3:]) >= 4.0 and _classes(value[3:]) >= 3:
        score = 0.75
    else:
        return None
    return SecretMatch("SECRET.openai", start, start + len(value), score)


def _stripe(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value[8:]):
        return None
    score = 0.5 if value.startswith("pk_") else 0.95 if "_live_" in value else 0.8
    return SecretMatch("SECRET.stripe", start, start + len(value), score)


def _jwt(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    header = value.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    except (binascii.Error, ValueError):
        return None
    if not decoded.lstrip().startswith(b"{") or not any(
        field in decoded for field in (b'"alg"', b'"typ"', b'"enc"')
    ):
        return None
    return SecretMatch("SECRET.jwt", start, start + len(value), 0.95)


def _url_password(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _slot_empty(value):
        return None
    # Above an e-mail address's 0.95: `user:pw@host.example` is a URL, not a mailbox.
    return SecretMatch("SECRET.url_password", start, start + len(value), 0.97)


def _slot_empty(value: str) -> bool:
    """Whether a password slot (a URL's `user:pw@`, a connection string's `Pwd=`) is not
    filled in: any word fills one; template markers, a variable, or the slot's own name
    (`:password@`) do not."""
    return bool(
        _TEMPLATE.search(value)
        or _SLOT_NAME.fullmatch(value)
        or len(set(value)) < 2
        or value.startswith("$")
    )


def _putty(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    body = value.rsplit("Private-Lines:", 1)[-1]
    if sum(c.isalnum() for c in body) < 40 or _PLACEHOLDER.search(body):
        return None
    return SecretMatch("SECRET.private_key", start, start + len(value), 1.0)


def _pem_b64(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    head = value[: len(value) // 4 * 4][:96]
    try:
        decoded = base64.b64decode(head)
    except (binascii.Error, ValueError):
        return None
    if b"PRIVATE KEY" not in decoded:
        return None
    return SecretMatch("SECRET.private_key", start, start + len(value), 0.95)


def _basic_auth(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    _user, colon, password = decoded.partition(":")
    if not colon or not password or not decoded.isprintable() or _PLACEHOLDER.search(password):
        return None
    return SecretMatch("SECRET.basic_auth", start, start + len(value), 0.9)


def _bearer(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    specific = _specific(value, start)
    if specific is not None:
        return specific
    if _PLACEHOLDER.search(value) or _repetitive(value) or _PROVIDER_PREFIX.match(value):
        return None
    if _entropy(value) < 3.5 or _classes(value) < 2 or _CODE_REFERENCE.fullmatch(value):
        return None
    return SecretMatch("SECRET.bearer_token", start, start + len(value), 0.8)


def _keyed(kind: str) -> Callable[[re.Match[str], str, int], SecretMatch | None]:
    """A value that a command flag, a markup key or a call argument names as a secret."""

    def validate(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
        groups = match.groupdict()
        key = groups.get(kind + "_k") or "password"
        # Command-line arguments are literals: a shell variable would start with `$`.
        literal = kind in ("netrc", "cli_flag", "user_pass", "curl_user", "tool_password")
        quoted = bool(groups.get(kind + "_q")) or literal or kind in ("dotnet_cred", "xml_kv")
        return _judge(key, "", value, quoted or kind == "truenas", start, _TYPE[kind], literal)

    return validate


def _call_pair(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    # A call's second argument that is a plain word or a slug is a label, a default or a
    # text domain (`t('password', 'Passwort')`, `__( 'Password', 'my-plugin' )`), rarely a
    # credential; so is anything passed with a Title-case label or to a translation call.
    key = match.group("call_pair_k")
    if value.isalpha() or _SLUG.fullmatch(value) or (key[:1].isupper() and not key.isupper()):
        return None
    if _I18N_CALL.search(match.string, max(0, match.start() - 48), match.start("call_pair_k")):
        return None
    return _call_pair_keyed(match, value, start)


_call_pair_keyed = _keyed("call_pair")
# `"PWD={0};".format(pw)`, `f"PWD={cfg['pwd']};"`, `$"Pwd={{{password}}}"`: a format field
# (an identifier, an index or call after it, a conversion and a spec), not a value.
_FORMAT_FIELD = re.compile(
    r"\{*(?:[A-Za-z_][\w.]*(?:\[[^\]]*\]|\(.*\))*|[0-9]{0,3})(?:![rsa])?(?::[^{}]*)?\}*"
)


# "net user adds 1.2M": a figure, not a password.
_FIGURE = re.compile(r"[\d.,]+[%KMBkmb]?[.,;]?")


def _tool_password(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if not match.group("tool_password_q") and (
        _classes(value) < 2 or not value.strip("0123456789:.") or _FIGURE.fullmatch(value)
    ):
        return None  # prose (`the -a option`), a port mapping (`-p3306:3306`), `1.2M`
    if "securestring" in match.group().lower():
        text = match.string
        line_end = text.find("\n", start)
        line = text[text.rfind("\n", 0, start) + 1 : len(text) if line_end < 0 else line_end]
        if "-asplaintext" not in line.lower():
            return None  # an encrypted standard string (with `-Key`), not a password in clear
    return _tool_password_keyed(match, value, start)


_tool_password_keyed = _keyed("tool_password")


def _odbc_braced(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _slot_empty(value) or _FORMAT_FIELD.fullmatch(value):
        return None
    return _judge("password", "", value, True, start, "SECRET.password", literal=True)


_SLUG = re.compile(r"[a-z]+(?:[_\-][a-z0-9]+)+")
_I18N_CALL = re.compile(
    r"(?:\b(?:__|_[exn]|_nx|esc_(?:html|attr)_(?:_|e|x)|t|gettext|ngettext|translate|i18n\w*)"
    r"\(\s*[\"']?)\Z"
)


def _generic(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if value[0] == "{":
        return None  # code (`= {...}`), or ODBC's braced value, which `odbc_braced` reads
    text = match.string
    operator = match.start()
    before = text[max(0, operator - 48) : operator]
    lowered = before.lower()
    named = (
        _KEY_BEFORE.search(text, max(0, operator - 48), operator)
        if any(hint in lowered for hint in _KEY_HINTS)
        else None
    )
    if named is None:
        # Without a secret's name, only a provider's context names it: a provider token in
        # the value is the scan's own finding at its anchor.
        return _provider_context(before, value, start)
    key = named.group()
    quoted = bool(match.group("generic_q"))
    line_start = text.rfind("\n", 0, operator) + 1
    line = ("\n" if line_start >= operator - 48 else "") + text[
        max(line_start, operator - 48) : operator
    ]
    after = text[start + len(value) : start + len(value) + 1]  # "" at the end of the text
    bare = not quoted and text[operator] == "=" and match.start("generic_v") == operator + 1
    # `Server=db;User Id=app;Password=...;`: a connection string's password slot.
    slot = bare and bool(
        (after == ";" and _PAIR_BEFORE.search(line))
        or (after in (";", '"', "'", "") and _IN_PAIRS_BEFORE.search(line))
    )
    # `DB_PASSWORD="goodspec"` on a `.env` line is as literal quoted as bare (not commented
    # out, and not a setting about passwords: `PASSWORD_HASH="bcrypt"`).
    env_quoted = (
        quoted
        and text[operator] == "="
        and match.start("generic_q") == operator + 1
        and _ENV_LINE.search(line) is not None
        and _SETTING_NAME.search(key) is None
    )
    literal = (
        slot
        or env_quoted
        or (
            bare
            and bool(
                _LITERAL_BEFORE.search(line)
                or (after in ("\n", "\r", "") and _INI_BEFORE.search(line))
            )
        )
    )
    if slot and _NAMES_PASSWORD.search(key):
        return (
            None
            if _slot_empty(value)
            else SecretMatch("SECRET.password", start, start + len(value), 0.85)
        )
    return _judge(key, before.lower(), value, quoted or literal, start, literal=literal)


def _provider_context(before: str, value: str, start: int) -> SecretMatch | None:
    """A value whose shape and nearby name (`fb_app_key`, `okta`) identify its provider."""
    line = before[before.rfind("\n") + 1 :]
    for key, shape, kind, score, identifier in _CONTEXT_FORMATS:
        if not shape.fullmatch(value) or _repetitive(value):
            continue
        if identifier and (not key.search(line) or _identifier_refused(value)):
            continue
        if identifier or key.search(before):
            return SecretMatch(kind, start, start + len(value), score)
    return None


_DJANGO_PLACEHOLDER = re.compile(r"(?i)x{4,}|your|example|change")
_LETTERS_AND_DIGITS = re.compile(r"[A-Za-z].*[0-9]|[0-9].*[A-Za-z]")


def _django(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    # Django's generated keys draw from punctuation too: `@cu@` is not an `@VAR@` template.
    if _repetitive(value[16:]) or _DJANGO_PLACEHOLDER.search(value, 16):
        return None
    return SecretMatch("SECRET.django", start, start + len(value), 0.9)


def _prose(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    """`the password is 'hunter22'`: quoted, a word of eight letters will do; unquoted (`my
    password is hunter2`), only a value that mixes letters with digits or symbols, since
    prose goes on in plain words (`the password is case-sensitive`)."""
    quoted = match.group("prose_q") is not None
    if not quoted and _classes(value) < 3 and not _LETTERS_AND_DIGITS.search(value):
        return None
    if quoted and _classes(value) < 2 and len(value) < 8:
        return None
    return _judge("password", "", value, quoted, start, "SECRET.password", literal=True)


def _unseal(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value) or _classes(value) < 3:
        return None
    return SecretMatch("SECRET.hashicorp", start, start + len(value), 0.85)


def _judge(
    key: str,
    before: str,
    value: str,
    quoted: bool,
    start: int,
    kind: str = "SECRET.generic",
    literal: bool = False,
) -> SecretMatch | None:
    """Whether ``value``, assigned to the secret-looking name ``key``, is a credential.

    ``quoted`` values are never code references; ``literal`` ones (a `.env` line, a command
    argument) are not code at all, so a plain word of eight letters is a password there."""
    specific = _specific(value, start) or _provider_context(before + key, value, start)
    if specific is not None:
        return specific
    if _PLACEHOLDER.search(value) or _repetitive(value) or _PROVIDER_PREFIX.match(value):
        return None
    key = key.lower()
    aws_shaped = (
        _AWS_SECRET.fullmatch(value) is not None and _classes(value) >= 3 and _entropy(value) >= 3.5
    )
    if "secret" in key and ("aws" in before or "access" in key) and aws_shaped:
        return SecretMatch("SECRET.aws", start, start + len(value), 0.9)
    if "secret" in key and "aws" in before + key and not aws_shaped:
        return None  # the name promises AWS's 40-character secret key, not this value
    return _judge_value(key, value, quoted, start, kind, literal)


def _judge_value(
    key: str, value: str, quoted: bool, start: int, kind: str, literal: bool
) -> SecretMatch | None:
    if not quoted and _IDENTIFIER.fullmatch(value) and not any(c.isdigit() for c in value):
        return None
    if not quoted and (_CODE_REFERENCE.fullmatch(value) or _CODE_PUNCTUATION.search(value)):
        return None
    if _URL_PATH.fullmatch(value) or (_SELF_NAMED.search(value) and _LABEL_MARK.search(value)):
        return None
    is_password = _NAMES_PASSWORD.search(key) is not None
    entropy, classes, length = _entropy(value), _classes(value), len(value)
    if value.isdigit() and (not is_password or length < 6):
        return None
    if (
        _HEXISH.fullmatch(value)
        and not (length >= 16 and entropy >= 3.0)
        and not (is_password and length >= 10 and classes >= 2)
    ):
        return None
    if is_password:
        # One class of characters (`braksha` after `-p`) is a weak password but a password
        # where the value is surely a literal (a command line, a `.env` line); quoted words in
        # code are as often settings (`'password' => 'hashed'`, `"hidden"`).
        if (classes < 2 and length < (6 if literal else 10)) or length < 4:
            return None
        score = min(1.0, 0.55 + 0.05 * classes + 0.02 * min(length, 10))
    else:
        if length < 12 or entropy < 3.0 or (classes < 2 and not _HEXISH.fullmatch(value)):
            return None
        score = min(1.0, 0.4 + 0.08 * entropy + 0.04 * classes + 0.005 * min(length, 32))
    return SecretMatch(kind, start, start + length, round(min(score, 0.9), 3))


_HEXISH = re.compile(r"[0-9a-fA-F]+")
# What user interfaces and routers assign to password-ish names: a route (`/en/auth/login`),
# a selector or label naming the field itself (`#add-password`, `Password:`,
# `users/passwords#edit`). A credential rarely spells its own kind next to `#/: `.
_URL_PATH = re.compile(r"/(?:[a-z0-9][a-z0-9._@\-]*/?){2,}")
_SELF_NAMED = re.compile(r"(?i)passw(?:or)?d|secret|token")
_LABEL_MARK = re.compile(r"[#/:\s]")
# An unquoted value holding an operator or a bracket is an expression, not a literal.
_CODE_PUNCTUATION = re.compile(r"\|\||&&|[{}()\[\]]")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _classes(value: str) -> int:
    """How many of lower, upper, digit and other characters ``value`` mixes."""
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


def _repetitive(value: str) -> bool:
    return len(value) >= 8 and len(set(value)) <= max(2, min(len(value) // 8, 6))


_VALIDATORS: dict[str, Callable[[re.Match[str], str, int], SecretMatch | None]] = {
    "pem": _pem,
    "putty": _putty,
    "pem_b64": _pem_b64,
    "password_hash": _password_hash,
    "aws_id": _aws_id,
    "gcp_api": _fixed(0.9),
    "azure_key": _fixed(0.9),
    "azure_sas": _fixed(0.85),
    "github": _github,
    "github_pat": _fixed(0.95),
    "gitlab": _fixed(0.9),
    "slack": _fixed(0.9),
    "slack_hook": _fixed(0.9),
    "stripe": _stripe,
    "anthropic": _fixed(0.95),
    "openai": _openai,
    "huggingface": _fixed(0.85),
    "twilio": _fixed(0.8),
    "sendgrid": _fixed(0.95),
    "npm": _fixed(0.9),
    "pypi": _fixed(0.95),
    **{f.kind: _identifier if f.identifier else _fixed(f.score) for f in TOKEN_FORMATS},
    "jwt": _jwt,
    "url_password": _url_password,
    "basic_auth": _basic_auth,
    "bearer": _bearer,
    **{
        kind: _keyed(kind)
        for kind in (
            "netrc",
            "cli_flag",
            "user_pass",
            "curl_user",
            "dotnet_cred",
            "xml_kv",
            "xml_elem",
            "spaced",
            "truenas",
        )
    },
    "call_pair": _call_pair,
    "tool_password": _tool_password,
    "odbc_braced": _odbc_braced,
    "thingsboard": _fixed(0.8),
    "okta": _fixed(0.9),
    "jenkins": _fixed(0.9),
    "vault_unseal": _unseal,
    "django": _django,
    "prose": _prose,
    "generic": _generic,
}
