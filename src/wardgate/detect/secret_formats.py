"""Credential formats that providers document: a literal prefix and a fixed shape.

Each `TokenFormat` is a provider's published token layout (prefix, alphabet, length), the
anchor the secrets detector looks for before running its pattern, and the confidence a
match earns. The table is data: adding a provider is adding a row, and the detector
(`wardgate.detect.secrets`) compiles every row into its one alternation at import.

Only formats whose prefix is specific enough to be reported without context belong here;
values known only by the name they are assigned to are the detector's generic branch.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONTEXT_FORMATS",
    "IDENTIFIER_SCORE",
    "TOKEN_FORMATS",
    "ContextFormat",
    "TokenFormat",
]

_URLSAFE = r"A-Za-z0-9_\-"
_HEX = r"0-9a-f"
# What an identifier finding scores (see the identifier rows of `TOKEN_FORMATS`).
IDENTIFIER_SCORE = 0.6
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True, slots=True)
class TokenFormat:
    """One token shape: `pattern` (Python `re`, no groups) starts with `anchor` (an
    `Anchor` pattern: ASCII literals and `[...]` classes) or has it within `before`
    characters of its start. The finding is `SECRET.<provider>` with `score`. An
    `identifier` names an account or an app rather than unlocking it: it is never looked
    for inside another secret's value and must pass the identifier checks."""

    kind: str
    provider: str
    pattern: str
    anchor: str
    score: float = 0.9
    before: int = 0
    identifier: bool = False


def _identifier_format(kind: str, pattern: str, anchor: str, before: int = 0) -> TokenFormat:
    return TokenFormat(kind, kind, pattern, anchor, IDENTIFIER_SCORE, before, identifier=True)


TOKEN_FORMATS: tuple[TokenFormat, ...] = (
    TokenFormat("adafruit", "adafruit", r"aio_[A-Za-z0-9]{28}", "aio_"),
    TokenFormat(
        "age",
        "age",
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        "AGE-SECRET-KEY-1",
        0.99,
    ),
    TokenFormat("atlassian", "atlassian", r"ATATT3[A-Za-z0-9_\-=]{100,300}", "ATATT3", 0.95),
    TokenFormat(
        "azure_devops",
        "azure",
        r"[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}",
        "AZDO",
        0.95,
        76,
    ),
    TokenFormat("cratesio", "cratesio", r"cio[A-Za-z0-9]{32}", "cio", 0.85),
    TokenFormat("databricks", "databricks", r"dapi[" + _HEX + r"]{32}(?:-[0-9])?", "dapi"),
    TokenFormat("digitalocean", "digitalocean", r"do[opr]_v1_[" + _HEX + r"]{64}", "_v1_", 0.95, 3),
    TokenFormat("dockerhub", "dockerhub", r"dckr_(?:pat|oat)_[" + _URLSAFE + r"]{27,40}", "dckr_"),
    TokenFormat(
        "doppler",
        "doppler",
        r"dp\.(?:ct|pt|sa|scim|audit|st(?:\.[a-z0-9_\-]{1,40})?)\.[A-Za-z0-9]{40,44}",
        "dp.",
    ),
    TokenFormat("dropbox", "dropbox", r"sl\.(?:u\.)?[" + _URLSAFE + r"=]{120,1400}", "sl.", 0.85),
    TokenFormat("dtrack", "dtrack", r"odt_(?:[A-Za-z0-9]{8}_)?[A-Za-z0-9]{32,40}", "odt_"),
    TokenFormat("figma", "figma", r"figd_[" + _URLSAFE + r"]{40}", "figd_"),
    TokenFormat("firecrawl", "firecrawl", r"fc-[" + _HEX + r"]{32}", "fc-", 0.85),
    TokenFormat("gitlab_runner", "gitlab", r"GR1348941[" + _URLSAFE + r"]{20}", "GR1348941"),
    TokenFormat("google_secret", "gcp", r"GOCSPX-[" + _URLSAFE + r"]{28}", "GOCSPX-", 0.95),
    TokenFormat("google_oauth", "gcp", r"ya29\.[" + _URLSAFE + r"]{30,2000}", "ya29.", 0.9),
    TokenFormat(
        "grafana",
        "grafana",
        r"(?:glsa_[A-Za-z0-9]{32}_[" + _HEX + r"]{8}|glc_[A-Za-z0-9+/]{32,400}"
        r"={0,2})",
        "gl[sc]",
        0.95,
    ),
    TokenFormat("grafana_key", "grafana", r"eyJrIjoi[A-Za-z0-9+/]{40,200}={0,2}", "eyJrIjoi"),
    TokenFormat("vault", "hashicorp", r"hv[sbr]\.[" + _URLSAFE + r"]{24,400}", "hv[sbr].", 0.95),
    TokenFormat(
        "terraform",
        "hashicorp",
        r"[A-Za-z0-9]{14}\.atlasv1\.[" + _URLSAFE + r"]{60,70}",
        ".atlasv1.",
        0.95,
        14,
    ),
    TokenFormat("jina", "jina", r"jina_[A-Za-z0-9_\-]{50,80}", "jina_"),
    TokenFormat("linear", "linear", r"lin_(?:api|oauth)_[A-Za-z0-9]{40}", "lin_"),
    TokenFormat("mailchimp", "mailchimp", r"[" + _HEX + r"]{32}-us[0-9]{1,2}", "-us", 0.85, 32),
    # Mailgun's own examples are not hex: `key-3ax6xnjp29jd6fds4gc373sgvjxteol0`. Random
    # base 36 has digits and letters both (a slug such as `key-takeawaysfromthe...` has not).
    TokenFormat(
        "mailgun",
        "mailgun",
        r"key-(?=[a-z]{0,31}[0-9])(?=[0-9]{0,31}[a-z])[0-9a-z]{32}",
        "key-",
        0.8,
    ),
    TokenFormat(
        "msteams",
        "msteams",
        r"https://(?:[A-Za-z0-9\-]+\.)?(?:webhook|outlook)\.office(?:365)?\.com/webhook(?:b2)?/"
        r"[A-Za-z0-9@\-]{36,80}/IncomingWebhook/[A-Za-z0-9]{32}/[A-Za-z0-9\-]{36}"
        r"(?:/[" + _URLSAFE + r"]{20,80})?",
        ".office",
        0.95,
        64,
    ),
    TokenFormat(
        "newrelic",
        "newrelic",
        r"(?:NRAK-[A-Z0-9]{27}|NRAA-[" + _HEX + r"]{27}|NRI[IQ]-[" + _URLSAFE + r"]{32}"
        r"|NRJS-[" + _HEX + r"]{19}|NRRA-[" + _HEX + r"]{42})",
        "NR[AIJR][AKIQSR]-",
    ),
    TokenFormat("newrelic_license", "newrelic", r"[A-Za-z0-9]{36}NRAL", "NRAL", 0.9, 36),
    TokenFormat("pixie", "newrelic", r"px-(?:api|dep)-" + _UUID, "px-", 0.85),
    TokenFormat("nuget", "nuget", r"oy2[a-z0-9]{43}", "oy2", 0.85),
    TokenFormat("netlify", "netlify", r"nfp_[A-Za-z0-9]{36}", "nfp_"),
    TokenFormat("notion", "notion", r"ntn_[0-9]{11}[A-Za-z0-9]{35}", "ntn_"),
    # Notion's integration secrets before `ntn_`.
    TokenFormat(
        "notion_legacy",
        "notion",
        r"secret_(?=[A-Za-z]{0,42}[0-9])(?=[0-9]{0,42}[A-Za-z])[A-Za-z0-9]{43}",
        "secret_",
        0.8,
    ),
    TokenFormat(
        "postman", "postman", r"PMAK-[" + _HEX + r"]{24}-[" + _HEX + r"]{34}", "PMAK-", 0.95
    ),
    TokenFormat("rubygems", "rubygems", r"rubygems_[" + _HEX + r"]{48}", "rubygems_", 0.95),
    TokenFormat(
        "salesforce", "salesforce", r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{80,200}", "00D", 0.9
    ),
    TokenFormat("shopify", "shopify", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", "shp", 0.95),
    TokenFormat("sonarqube", "sonarqube", r"sq[pua]_[" + _HEX + r"]{40}", "sq[pua]_"),
    TokenFormat(
        "sourcegraph",
        "sourcegraph",
        r"sg[ps]_(?:local_|[" + _HEX + r"]{16}_)?[" + _HEX + r"]{40}",
        "sg[ps]_",
    ),
    TokenFormat(
        "square",
        "square",
        r"(?:EAAA["
        + _URLSAFE
        + r"]{60}|sq0atp-["
        + _URLSAFE
        + r"]{22}|sq0csp-["
        + _URLSAFE
        + r"]{43})",
        "[Es][Aq][A0][Aac]",
    ),
    TokenFormat("facebook_token", "facebook", r"EAA[A-Za-z0-9]{90,400}", "EAA", 0.8),
    TokenFormat("tavily", "tavily", r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}", "tvly-", 0.95),
    TokenFormat("twitch", "twitch", r"live_[0-9]{6,12}_[A-Za-z0-9]{30}", "live_", 0.9),
    TokenFormat("stripe_hook", "stripe", r"whsec_[A-Za-z0-9]{32,64}", "whsec_"),
    TokenFormat("groq", "groq", r"gsk_[A-Za-z0-9]{52}", "gsk_"),
    TokenFormat("replicate", "replicate", r"r8_[A-Za-z0-9]{37}", "r8_", 0.85),
    TokenFormat("perplexity", "perplexity", r"pplx-[A-Za-z0-9]{48}", "pplx-"),
    TokenFormat("xai", "xai", r"xai-[A-Za-z0-9]{80}", "xai-"),
    TokenFormat("supabase", "supabase", r"sbp_[" + _HEX + r"]{40}", "sbp_"),
    TokenFormat("pulumi", "pulumi", r"pul-[" + _HEX + r"]{40}", "pul-"),
    TokenFormat(
        "sentry",
        "sentry",
        r"(?:sntrys_eyJ[A-Za-z0-9+/=_]{60,400}|sntryu_[" + _HEX + r"]{64})",
        "sntry",
    ),
    TokenFormat(
        "langsmith", "langsmith", r"lsv2_(?:pt|sk)_[" + _HEX + r"]{32}_[" + _HEX + r"]{10}", "lsv2_"
    ),
    TokenFormat(
        "planetscale",
        "planetscale",
        r"pscale_(?:tkn|pw|oauth)_[" + _URLSAFE + r"]{32,64}",
        "pscale_",
    ),
    TokenFormat("dynatrace", "dynatrace", r"dt0[a-z][0-9]{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64}", "dt0"),
    TokenFormat("heroku", "heroku", r"HRKU-[" + _URLSAFE + r"]{60}", "HRKU-"),
    TokenFormat("contentful", "contentful", r"CFPAT-[" + _URLSAFE + r"]{43}", "CFPAT-"),
    TokenFormat("airtable", "airtable", r"pat[A-Za-z0-9]{14}\.[" + _HEX + r"]{64}", "pat", 0.9),
    TokenFormat(
        "telegram", "telegram", r"[0-9]{8,10}:AA[" + _URLSAFE + r"]{32,33}", ":AA", 0.85, 10
    ),
    TokenFormat(
        "mapbox",
        "mapbox",
        r"[st]k\.eyJ[" + _URLSAFE + r"]{20,1000}\.[" + _URLSAFE + r"]{20,200}",
        ".eyJ",
        0.9,
        2,
    ),
    TokenFormat("clojars", "clojars", r"CLOJARS_[a-z0-9]{60}", "CLOJARS_"),
    TokenFormat("prefect", "prefect", r"pnu_[A-Za-z0-9]{36}", "pnu_"),
    # Identifiers, not credentials: they name an organisation's cloud accounts and OAuth
    # apps, which is what reconnaissance looks for and what a prompt to a third party should
    # not carry. `IDENTIFIER_SCORE` sits below every credential's score, so a policy's
    # `min_score` above it keeps only credentials. Bucket names are not reported: public
    # data sets live in buckets too (`s3://commoncrawl/`), and a name alone names no account.
    _identifier_format(
        "aws_arn",
        # A resource of an account; AWS's own (`arn:aws:iam::aws:policy/...`) and S3's
        # (`arn:aws:s3:::bucket`) name none.
        r"arn:aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?:[a-z0-9\-]{2,40}:[a-z0-9\-]{0,24}:[0-9]{12}:"
        r"[A-Za-z0-9_/:.\-+=,@*$]{0,511}[A-Za-z0-9_/\-+=@*$]",
        "arn:aws",
    ),
    _identifier_format(
        "google_client_id",
        r"[0-9]{5,20}-[a-z0-9]{32}\.apps\.googleusercontent\.com",
        "apps.googleusercontent.com",
        54,
    ),
    _identifier_format(
        "shopify_domain",
        r"[a-z0-9][a-z0-9\-]{0,59}\.myshopify\.com",
        ".myshopify.com",
        60,
    ),
)


@dataclass(frozen=True, slots=True)
class ContextFormat:
    """A provider's value that only its context identifies: `value` (Python `re`, matched
    whole) assigned to a name where `key` (searched case-insensitively in the name and the
    text just before it) occurs. The finding is `SECRET.<provider>` with `score`. An
    `identifier`'s key must be on the value's own line, and it must pass the identifier
    checks."""

    provider: str
    key: str
    value: str
    score: float = 0.85
    identifier: bool = False


CONTEXT_FORMATS: tuple[ContextFormat, ...] = (
    ContextFormat("facebook", r"facebook|(?<![a-z])fb", r"[0-9a-f]{32}"),
    ContextFormat("okta", r"okta|ssws", r"00[A-Za-z0-9_\-]{40}", 0.9),
    ContextFormat(
        "azure",
        r"(?<![a-z])(?:pat|ado|azure|devops|vsts|tfs)(?![a-z])",
        r"[a-z2-7]{52}",
    ),
    ContextFormat("kubernetes", r"token", r"[a-z0-9]{6}\.[a-z0-9]{16}"),
    ContextFormat("postmark", r"postmark", _UUID),
    ContextFormat("heroku", r"heroku", _UUID),
    ContextFormat("nasa", r"nasa", r"[A-Za-z0-9]{40}"),
    ContextFormat("blynk", r"blynk", r"[A-Za-z0-9_\-]{32}"),
    ContextFormat("sonarqube", r"sonar", r"[0-9a-f]{40}"),
    ContextFormat(
        "aws_account_id", r"aws[_\-. ]?account", r"[0-9]{12}", IDENTIFIER_SCORE, identifier=True
    ),
    # An OAuth app's client id, named with its provider (`GITHUB_CLIENT_ID=...`): digits and
    # letters both, so that `your-client-id` and other slot names are not one.
    ContextFormat(
        "oauth_client_id",
        r"(?:github|gitlab|linkedin|twitter|facebook|google|azure|okta|auth0|slack|discord"
        r"|spotify|dropbox|microsoft|apple|atlassian|bitbucket|salesforce|zoom)[_\-. ]{0,2}"
        r"(?:oauth[_\-. ]?)?(?:app[_\-. ]?)?client[_\-. ]?id",
        r"(?=[A-Za-z_\-.]*[0-9])(?=[0-9_\-.]*[A-Za-z])[A-Za-z0-9_\-.]{10,80}",
        IDENTIFIER_SCORE,
        identifier=True,
    ),
)
