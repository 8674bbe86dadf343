"""Tests for the secrets detector: provider shapes, placeholders, spans, totality."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from tests.detect.test_anchors import scan_whole_text
from wardgate.detect import secrets
from wardgate.detect.secret_formats import IDENTIFIER_SCORE
from wardgate.detect.secrets import SecretMatch, find_secrets
from wardgate.detect.sensitive import find_sensitive

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _github(body: str = "R7kQ2mXz9LpA4vBn6cWd8eYf1gHj3t") -> str:
    crc, digits = zlib.crc32(body.encode()), ""
    while crc:
        crc, rest = divmod(crc, 62)
        digits = _B62[rest] + digits
    return "ghp_" + body + digits.rjust(6, "0")


def _jwt() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": "42"}) + ".c2lnbmF0dXJlX3Zh"


_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x9Qm2Lk4Zr8\n-----END RSA PRIVATE KEY-----"
)

POSITIVES = [
    # (prefix, secret, suffix, type)
    ("key ", "AKIAZ7QW3RTYUIOP2ASD", " ok", "SECRET.aws"),  # access key id
    ("aws_secret_access_key = ", "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", "\n", "SECRET.aws"),
    ("k=", "AIzaSyD3x9Qm2Lk4Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys", "", "SECRET.gcp"),
    ("AccountName=a;AccountKey=", "A" * 2 + "b9Zx" * 21 + "==", ";", "SECRET.azure"),
    ("token ", _github(), ".", "SECRET.github"),  # valid CRC32
    (
        "t: ",
        "github_pat_" + "A1b2C3d4E5f6G7h8I9j0K1" + "_" + "x7Y8z9" * 9 + "Q1w2e",
        "",
        "SECRET.github",
    ),
    ("", "glpat-Zr8Tq1Wv5Bn7Cj0Hf6Gp", " is mine", "SECRET.gitlab"),
    ("mailgun ", "key-3ax6xnjp29jd6fds4gc373sgvjxteol0", "", "SECRET.mailgun"),  # not hex
    ("NOTION_TOKEN=", "secret_Zq8Lm2Rt9Vx4Bn7Cj0Hf6GpWd8eYf1gHj3tR7kQ2mXz", "\n", "SECRET.notion"),
    ("slack ", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "", "SECRET.slack"),
    (
        "hook ",
        "https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/x9Qm2Lk4Zr8Tq1Wv5Bn7Cj0H",
        "",
        "SECRET.slack",
    ),
    ("", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "", "SECRET.stripe"),
    ("", "sk-proj-abcDEF1234567890ghijKLMNopqrstuvWXyz0123456789abcd", "", "SECRET.openai"),
    ("", "sk-ant-api03-" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys" * 4 + "AA", "", "SECRET.anthropic"),
    ("", "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", "", "SECRET.huggingface"),
    ("", "SK0123456789abcdef0123456789abcdef", "", "SECRET.twilio"),
    (
        "",
        "SG.Zr8Tq1Wv5Bn7Cj0Hf6Gp2Y.Zr8Tq1Wv5Bn7Cj0Hf6Gp2YsZr8Tq1Wv5Bn7Cj0Hf6Gp",
        "",
        "SECRET.sendgrid",
    ),
    ("", "npm_Zr8Tq1Wv5Bn7Cj0Hf6Gp2YsKdLmNoPq12345", "", "SECRET.npm"),
    ("", "pypi-AgEIcHlwaS5vcmc" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys" * 3, "", "SECRET.pypi"),
    ("Bearer ", _jwt(), "", "SECRET.jwt"),
    ("", _PEM, "", "SECRET.private_key"),
    ("postgres://admin:", "S3cr3tP4ss", "@db.internal:5432/app", "SECRET.url_password"),
    ('{"client_secret": "', "q8Zr1Tq9Wv5Bn7Cj0Hf6", '"}', "SECRET.generic"),
    ("password = '", "Tr0ub4dor&3", "'", "SECRET.generic"),
    ("x ", "shpat_" + "a1b2c3d4e5f6" * 2 + "0a1b2c3d", "", "SECRET.shopify"),  # custom app
    ("", "dop_v1_" + "0123456789abcdef" * 4, "", "SECRET.digitalocean"),
    (
        "",
        "PMAK-" + "0a1b2c3d4e5f" * 2 + "-" + "9f8e7d6c5b4a3f2e1d" + "9f8e7d6c5b4a3f2e",
        "",
        "SECRET.postman",
    ),
    (
        "",
        "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" + "QPZRY9X8GF2TVDW0S3JN54KHCE",
        "",
        "SECRET.age",
    ),
    ("", "hvs.CAESI" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys" * 4, "", "SECRET.hashicorp"),  # Vault >= 1.10
    ("k: ", "NRAK-" + "Z7QW3RTYUIOP2ASDFGHJKLZXCVB", "", "SECRET.newrelic"),
    ("", "dp.pt." + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2YsKdLmNoPqRsTuVwXyA", "", "SECRET.doppler"),
    ("", "3c9a1e0b7d4e5f6a8b9c0d1e2f3a4b5c-us14", "", "SECRET.mailchimp"),
    (
        "",
        "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "",
        "SECRET.password_hash",
    ),
    (
        "root:",
        "$6$FvA0eYQ1$" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Y./" * 3 + "Zr8Tq1Wv5Bn7Cj",
        ":19000::",
        "SECRET.password_hash",
    ),
    (
        "Authorization: Basic ",
        base64.b64encode(b"deploy:Zr8Tq1Wv").decode(),
        "",
        "SECRET.basic_auth",
    ),
    ("Authorization: Bearer ", "8f3k2JdLq9Zx7Vb1Nm4Pw6Ty0Rc5Hs2A", "", "SECRET.bearer_token"),
    ("machine api.internal login alice password ", "Zq8Lm2Rt9Vx4", "", "SECRET.password"),  # netrc
    ("psexec \\\\host -u CORP\\admin -p ", "Spring2024!", " cmd", "SECRET.password"),
    (
        "Connect-VIServer -Server vc01 -User admin -Password '",
        "Vm!w4re2024",
        "'",
        "SECRET.password",
    ),
    ('new NetworkCredential("svc", "', "Pa55w0rd!x", '");', "SECRET.password"),
    ('<add key="DbPassword" value="', "Zq8Lm2Rt9Vx4", '" />', "SECRET.generic"),  # .NET config
    (
        "Driver={SQL Server};Server=db;Uid=sa;Pwd=",
        "Zx9Qw3Er7Ty1",
        ";",
        "SECRET.password",
    ),  # ODBC: a password slot
    ("postgresql://app:", "Zq8Lm2Rt9Vx4", "@db.example.com:5432/x", "SECRET.url_password"),
    ("curl http://tb.local/api/v1/", "Hk3Lm9Qz2Rt8Vx4Wp7Yn", "/telemetry", "SECRET.thingsboard"),
    ("Authorization: SSWS ", "00" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp" * 2, "", "SECRET.okta"),
    (
        "ado: ",
        "Zr8Tq1Wv5Bn7Cj0Hf6Gp" * 3 + "Zr8Tq1Wv5Bn7Cj0H" + "AZDO" + "Hf6G",
        "",
        "SECRET.azure",
    ),
    ("", "ghr_" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys" * 3 + "Kd8Lm2R", "", "SECRET.github"),  # refresh
    ("VAULT_TOKEN=", "hvs." + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2YsQ", "\n", "SECRET.hashicorp"),  # short
    (
        "Please use the following password to proceed to installation:\n\n",
        "3c9a1e0b7d4e5f6a8b9c0d1e2f3a4b5c",
        "\n",
        "SECRET.jenkins",
    ),
    (
        "vault operator unseal ",
        "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys+Kd8Lm2Rt/Vx4Wp7Yn1Qa=",
        "",
        "SECRET.hashicorp",
    ),
    ('fb_app_key = "', "3c9a1e0b7d4e5f6a8b9c0d1e2f3a4b5c", '"', "SECRET.facebook"),  # app secret
    ("NASA_API_KEY=", "Zr8Tq1Wv5Bn7Cj0Hf6Gp" * 2, "\n", "SECRET.nasa"),
    ("kubeadm join 10.0.0.1:6443 --token ", "abcdef.0123456789abcdef", " --x", "SECRET.kubernetes"),
    ("vault status --vault-token ", "s.Zr8Tq1Wv5Bn7Cj0Hf6Gp2Ys", "", "SECRET.password"),
    ("\nDB_PASSWORD=", "sunshine", "\nDEBUG=1", "SECRET.generic"),  # .env literal
    ("Server=db;Database=app;User Id=sa;Password=", "dbadminpw", ";", "SECRET.password"),
    ('if password == "', "Zx9!kq2m", '":', "SECRET.generic"),  # hard-coded comparison
    ('password        = "', "Zx9kq2mWp", '"', "SECRET.generic"),  # aligned assignment
    ("psexec \\\\host -u admin -p ", "corp_admin", " cmd", "SECRET.password"),
    (
        "",
        "sk.eyJ1IjoiZXhhbXBsZSIsImEiOiJjazEyMzQ1NiJ9." + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2Y",
        "",
        "SECRET.mapbox",
    ),
    ("bot ", "123456789:AA" + "Zr8Tq1Wv5Bn7Cj0Hf6Gp2YsKd8Lm2RtQ", "", "SECRET.telegram"),
    # Told in prose: quoted, a plain word of eight letters; unquoted, letters with digits.
    ("The default password for the admin user is '", "marigold", "'.", "SECRET.password"),
    ("ok so my password is ", "tulip42x", ", can you check", "SECRET.password"),
    ("Das Passwort? The passphrase was: `", "Correct-Horse-9", "`", "SECRET.password"),
    ('Mein Passwort ist "', "Sonnenblume7", '", bitte nicht teilen.', "SECRET.password"),
    ("mi contraseña es '", "girasol2024", "'", "SECRET.password"),
    ('Le mot de passe est "', "tournesol9", '".', "SECRET.password"),
    ("minha senha é ", "girassol42", " ok", "SECRET.password"),
    ('kennwort = "', "Zx9kq2mWp", '"', "SECRET.generic"),
    ('{"arguments": "{\\"password\\": \\"', "Hunter22xQ", '\\"}"}', "SECRET.generic"),  # escaped
    ('    apiKey:               "', "Qm7Zr8Tq1Wv5Bn7Cj0Hf6Gp2", '",', "SECRET.generic"),  # aligned
    ("\n# DB_PASSWORD=", "sunflower", "\n", "SECRET.generic"),  # commented-out .env line
    ("[smtp]\nhost=mail\nPassword=", "seashells9", "\n", "SECRET.generic"),  # INI line
    ('if creds.password != "', "Zx9!kq2m", '" {', "SECRET.generic"),  # comparison, `!=`
    ("postgresql://app:", "secret", "@db.internal:5432/app", "SECRET.url_password"),  # a slot
    ("Server=db;User Id=app;Pwd=", "hunter", ";", "SECRET.password"),  # a slot, any word
    # A quoted name, a comma, a quoted value: `setenv`, `config.set`, Gradle properties.
    ('os.environ.setdefault("SECRET_KEY", "', "k3j4h5g6f7d8s9a0q1w2e3r4", '")', "SECRET.generic"),
    (
        "property 'sonar.login', '",
        "826de5590c75919a8317fdface58206eebe7ebbc",
        "'",
        "SECRET.sonarqube",
    ),
    ("psexec \\\\h -u admin -p ", "braksha", " cmd", "SECRET.password"),  # literal: one class
    ("Authorization: Bearer ", "mF_9.B5f-4.1JqM", "\n", "SECRET.bearer_token"),  # RFC 6750
    ('\nDB_PASSWORD="', "goodspec", '"\n', "SECRET.generic"),  # quoted on a .env line
    ("define( 'DB_PASSWORD', '", "x9$kd!Pq", "' );", "SECRET.generic"),  # WordPress style
    (
        "SECRET_KEY = '",
        "django-insecure-_du9e^cmago!%(^+=gr@cu@v9-v7ulhbk2s3!w&39w4+n3*k*$",
        "'",
        "SECRET.django",
    ),
    # Tools whose own flag takes the password; ODBC's braced value holding a `;`.
    ("sshpass -p '", "Qw3rty!88", "' ssh deploy@h", "SECRET.password"),
    ("redis-cli -h cache -a ", "R3disAuthPass", " ping", "SECRET.password"),
    ("mysqldump -uroot -p", "MyD8pass!", " shop", "SECRET.password"),
    ("net use Z: \\\\srv\\share /user:CORP\\bob ", "P4ssw0rd!x", "\n", "SECRET.password"),
    ('ConvertTo-SecureString "', "Adm1nPass!", '" -AsPlainText -Force', "SECRET.password"),
    ("Driver={SQL Server};Server=db;UID=app;PWD={", "p@ss;w0rd!", "};", "SECRET.password"),
    ("Server=db;PWD={", "p@ssw0rd!", "};", "SECRET.password"),  # no `;` inside: not generic's
    ('sshpass -p "', "Qw3rty 88!", '" ssh h', "SECRET.password"),  # quoted, with a blank
    ("$ sshpass -v -p ", "S3cretPw9", " ssh h", "SECRET.password"),
    ("net use Z: \\\\srv\\share ", "P4ssw0rd", " /user:CORP\\bob", "SECRET.password"),
    ('ConvertTo-SecureString -AsPlainText -Force -String "', "Xy9!abcd", '"', "SECRET.password"),
    ("ldap_bind_pw: '", "Ld83mQp2Zx", "'", "SECRET.generic"),  # `_pw` names a password
    ("LDAP_BIND_PW=", "Ld83mQp2Zx", "\n", "SECRET.generic"),
    ("net user administrator ", "Passw0rd123", " /add", "SECRET.password"),
    ('net user bob "', "Sp ace#1", '" /domain', "SECRET.password"),
    ("htpasswd -bc /etc/nginx/.htpasswd admin ", "Hx72mQp9L", "\n", "SECRET.password"),
    ("htpasswd -nbB admin ", "Hx72mQp9L", "\n", "SECRET.password"),  # -n: no file
    ("htpasswd -b -C 10 /etc/.htpasswd admin2 ", "Hx72mQp9L", "\n", "SECRET.password"),
    ("htpasswd -n -b admin ", "Hx72mQp9L", "\n", "SECRET.password"),
    ("RUN htpasswd -bc /etc/nginx/.htpasswd admin ", "Hx72mQp9L", "\n", "SECRET.password"),
    ("NET.EXE USER admin ", "P@ssw0rd9", " /add", "SECRET.password"),
    ("cmd /c net user admin ", "P@ssw0rd9", " /add", "SECRET.password"),
    ("1. net user admin ", "P@ssw0rd9", " /add", "SECRET.password"),
    # A provider token inside a keyed value keeps its provider's type.
    ("password=[", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "]", "SECRET.stripe"),
    # A password that ends like an identifier is a password, whole.
    ("password: '", "S3cr3t!Pa55/x.myshopify.com", "'", "SECRET.generic"),
    # Identifiers of an organisation's accounts and apps.
    ("Role: ", "arn:aws:iam::350938475102:role/DeployRole", ".", "SECRET.aws_arn"),
    ("AWS_ACCOUNT_ID=", "350938475102", "\n", "SECRET.aws_account_id"),
    (
        "client_id: ",
        "350938475102-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com",
        "\n",
        "SECRET.google_client_id",
    ),
    ("GITHUB_CLIENT_ID=", "Iv1.8a61f9b3a7aba766", "\n", "SECRET.oauth_client_id"),
    ("store: https://", "acme-outlet.myshopify.com", "/admin", "SECRET.shopify_domain"),
]
IDENTIFIERS = {
    "SECRET.aws_arn",
    "SECRET.aws_account_id",
    "SECRET.google_client_id",
    "SECRET.oauth_client_id",
    "SECRET.shopify_domain",
}


@pytest.mark.parametrize(("prefix", "secret", "suffix", "kind"), POSITIVES)
def test_finds_secret_with_exact_span(prefix: str, secret: str, suffix: str, kind: str) -> None:
    text = "Here: " + prefix + secret + suffix
    found = find_secrets(text)
    assert [(m.type, text[m.start : m.end]) for m in found] == [(kind, secret)]
    assert 0.0 < found[0].score <= 1.0


def test_identifiers_score_below_every_credential() -> None:
    """`min_score` above `IDENTIFIER_SCORE` keeps credentials and drops identifiers."""
    for prefix, secret, suffix, kind in POSITIVES:
        (match,) = find_secrets("Here: " + prefix + secret + suffix)
        if kind in IDENTIFIERS:
            assert match.score == IDENTIFIER_SCORE
        else:
            assert match.score > IDENTIFIER_SCORE, kind


def test_github_checksum_raises_score() -> None:
    good = _github()
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert find_secrets(good)[0].score == 1.0
    assert find_secrets(bad)[0].score < 1.0


NEGATIVES = [
    "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example key: public, not a leak
    "key-takeawaysfromthequarterlyreviews",  # a slug of Mailgun's length: no digits
    "secret_MethodHoverResultUserHomeAccountColorAddres",  # a name of Notion's: no digits
    "commit 3f2a9c1e0b7d4e5f6a8b9c0d1e2f3a4b5c6d7e8f fixed the build",  # git commit id
    "request id 123e4567-e89b-12d3-a456-426614174000",  # UUID
    'api_key = "your_api_key_here"',  # docs placeholder
    "token: ${GITHUB_TOKEN}",  # environment reference
    "password = request.form['password']",  # code, not a value
    "postgres://user:password@localhost/db",  # placeholder password
    "mysql://root:****@db/app",  # masked already
    "secret: <your-secret>",  # template
    "API_KEY=xxxxxxxxxxxxxxxxxxxx",  # repeated characters
    "The quick brown fox jumps over the lazy dog. Tokens are great: really.",  # prose
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # digest
    "img data:image/png;base64,iVBORw0KGgoAAAANSUHEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiI0MiJ9.c2ln",  # header without alg
    "def f(x):\n    return x == 1\nvalue: int = compute(x)",  # code
    "password: ${DB_PASSWORD}",  # templated
    "password = os.environ.get('DB_PASSWORD')",  # code reference
    "--password $MYSQL_PASSWORD",  # shell variable
    "xoxb-your-bot-token-here",  # provider prefix, not its shape
    "https://example.org/path?q=1 and git@github.com:org/repo.git",  # URLs without passwords
    "color: #ff00aa; background: #0a0b0c;",  # CSS colors
    "resolved: sha512-"
    + "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUR"
    + "==",
    "integrity: 6f1ed002ab5595859014ebf0951522d9",  # lockfile hash
    "We pass the token to the next step, then login and password are checked.",  # prose
    'curl -u "$USER:$PASS" https://api.internal',  # variables
    "aws_secret_access_key = 3f2a9c1e0b7d4e5f6a8b9c0d1e2f3a4b5c6d7e8f",  # not AWS's shape
    # An ARN is an identifier, and this one names AWS's documented example account.
    "secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
    "request_id = 123e4567-e89b-12d3-a456-426614174000",  # UUID in code
    'password = "%(password)s" % values',  # format string
    "$password = $_POST['password'];",  # PHP request value
    "export DB_PASSWORD=$SECRET_FROM_VAULT",  # shell variable
    'if password != "":',  # a check, not a value
    "See the password to proceed to installation: it is in the log.",  # Jenkins prose
    "var a=function(b){return b.token=c.secret||d};",  # minified JS
    'password: "<PASSWORD>"\ntoken = "REPLACE_ME"',  # fixture placeholders
    "DEBUG=true\nLOG_LEVEL=info\nPASSWORD=\n",  # .env without a secret
    "lock: sha1-3f2a9c1e0b7d4e5f6a8b9c0d1e2f3a4b5c6d7e8f sha256-3c9a1e0b7d4e5f6a8b9c0d1e2f3a4b5c",
    "Note: the password is case-sensitive and the passcode was incorrect.",  # prose, no value
    "the password field is 'hidden' until you click",  # a short plain word
    "Das Passwort ist zu kurz. La contraseña es incorrecta.",  # prose in other languages
    "conn = connect(\n    password=default_password,\n)",  # keyword argument, not INI
    'this.addPassword = "#add-password";\nlabel = {passwordLabel:"Password:"}',  # UI labels
    '"/en/creating-a-strong-password":"/en/enterprise-server@3.0/auth"',  # a route
    "Server=db;User Id=app;Password=${DB_PASSWORD};",  # a template in the slot
    'token = os.getenv("API_TOKEN", "")',  # a call pair without a value
    "config.set('password', 'changeme')",  # a call pair with a placeholder
    "password = session_password",  # a bare word in code may be a variable
    "Bearer authentication",  # a word after bearer
    "protected $hidden = ['password', 'remember_token'];",  # a list of field names
    "fields = ('username', 'password', 'password2')",  # a tuple of field names
    "t('password', 'Passwort')",  # a translation call: a label
    "protected $casts = ['password' => 'hashed'];",  # a quoted setting word
    '{"password": "hidden"}',  # a quoted setting word
    'f("password", "s3cr3tpw, more")',  # not a whole quoted value
    'a();var passwordType="hidden"',  # code after a semicolon, not a .env line
    '\n#PASSWORD="hunter"\n',  # commented out, quoted
    'PASSWORD_HASH="bcrypt"',  # a setting about passwords
    "esc_html_e( 'Password', 'my_theme' )",  # a translation call's text domain
    "register_setting( 'api_key', 'my_plugin_options' )",  # a slug
    "mysql -u root -p shop",  # a bare -p prompts for the password
    "net use Z: \\\\srv\\share /user:bob *",  # * prompts too
    "$s = ConvertTo-SecureString $plain -AsPlainText -Force",  # a variable
    'conn = "DRIVER={ODBC};PWD={0};".format(pw)',  # a format field
    'conn = f"Pwd={{{password}}};"',  # a format field
    "redis-cli -a $REDIS_PASSWORD ping",  # a variable
    '"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"',  # AWS's own, public
    '"Resource": "arn:aws:s3:::acme-prod-backups/*"',  # a bucket's ARN names no account
    "GITHUB_CLIENT_ID=your-client-id",  # a slot
    "Account ID: 350938475102",  # an account of anything
    "https://your-store.myshopify.com/admin",  # a tutorial's shop
    "https://test-store.myshopify.com/admin",  # a test store
    "AWS_ACCOUNT_ID=123456789012",  # AWS's documented example account
    "arn:aws:iam::000000000000:role/x",  # LocalStack's account
    "aws_account_id = 350938475102-x\nbuild_number = 202401150930",  # its key is a line up
    "GITHUB_CLIENT_ID=\nNODE_VERSION=18.17.1-alpine",  # its key is a line up
    "GITHUB_CLIENT_ID=your_client_id_123",  # a slot
    "GITHUB_CLIENT_ID=Iv1.xxxxxxxxxxxxxxxx",  # a mask
    "GOOGLE_CLIENT_ID=process.env.GOOGLE_CLIENT_ID2",  # code
    "const password = { required: true, minLength: 8 };",  # code, not ODBC
    '<Login password={formData["password"]} />',  # JSX
    'conn = f"PWD={password2};"',  # format fields
    "conn = f\"PWD={cfg['pwd']};\"",
    'conn = $"Password={{password}};"',
    "...redis-cli using the -a option to authenticate",  # prose
    "The sshpass -p argument exposes the password in ps.",
    "Run net use with /user:admin followed by the password.",
    "the upward trend: 12% growth",  # `pw` inside a word names nothing
    "new_pw_hash = bcrypt(pw)",  # code
    "net user admin /add",  # asks for no password on the line
    "net user admin *",  # prompts
    "Use net user to list the accounts on this machine",
    "htpasswd -c .htpasswd admin",  # prompts
    "run htpasswd -b file user password to add one",  # prose
    "net user [username [password | *] [options]] [/domain]",  # the syntax line
    "net user username {password | *} /ADD",
    "Net user additions: 1.2M (Q3 2024)",  # business text
    "Q3 highlights: net user adds 1.2M.",
    "docker run --name mysql -p3306:3306 -d mysql:8",  # mysql is not the command
    "find /var/lib/mysql -name '*.log' -print0",
    "docker compose -f mysql.yml -pstaging up",
    'ConvertTo-SecureString "76492d1116743f0423413b16050a5345MgB8AEcAVwBM" -Key $key',  # sealed
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_does_not_flag(text: str) -> None:
    assert find_secrets(text) == []


def test_token_as_url_user_outranks_an_email_address() -> None:
    text = "git clone https://" + _github() + "@github.com/org/repo"
    (match,) = find_secrets(text)
    assert match.type == "SECRET.github" and match.score >= 0.97


def test_match_is_frozen_value() -> None:
    match = find_secrets("AKIAZ7QW3RTYUIOP2ASD")[0]
    assert match == SecretMatch("SECRET.aws", 0, 20, match.score)
    with pytest.raises(AttributeError):
        match.start = 1  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_total_and_in_bounds(text: str) -> None:
    for match in find_secrets(text):
        assert 0 <= match.start < match.end <= len(text)
        assert 0.0 <= match.score <= 1.0


@pytest.mark.parametrize("row", range(len(POSITIVES)))
def test_windows_find_what_the_whole_text_finds(row: int, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix, secret, suffix, _kind = POSITIVES[row]
    text = "Some prose first, then: " + prefix + secret + suffix + " and more after."
    windowed = secrets.find_secrets(text)
    scan_whole_text(monkeypatch)
    assert windowed == secrets.find_secrets(text)


def test_a_secret_holding_an_email_address_is_reported_whole() -> None:
    digest = "3e156ada591263b8aab0965f5aebd837$" + "07a782ea0e1c5402b17db7afa6b05a6d" * 4
    text = "hash: $krb5asrep$23$user@corp.example:" + digest
    (match,) = find_sensitive(text)
    assert match.type == "SECRET.password_hash" and text[match.start : match.end].endswith(digest)
