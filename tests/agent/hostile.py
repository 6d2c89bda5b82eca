"""Values that must never get through: shell metacharacters, option injection, path traversal,
unicode look-alikes, overlong and empty values, and URL schemes git would act on.

``HOSTILE[kind]`` lists the values for one kind of field. Other test layers import it as data
(the API's validation and the SSM documents' allowedPatterns must refuse every value too). No value
is a space-joined list of valid values, so list parameters must refuse them as well; no git_ref is
empty, because an empty Ref means the remote's default branch.
"""

from __future__ import annotations

# Every kind of field refuses these.
COMMON: list[str] = [
    "",
    " ",
    "$(id)",
    "`id`",
    "${IFS}",
    "a;id",
    "a|id",
    "a&id",
    "a&&id",
    "a>/tmp/out",  # (a>out and a<in are valid version specifiers, and never reach a shell)
    "a</etc/passwd",
    "a\nid",
    "a\rid",
    "a\tb",
    "'a'",
    '"a"',
    "a\\b",
    "-rf",
    "--help",
    "--upload-pack=touch /tmp/pwned",
    "-oProxyCommand=touch /tmp/pwned",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "~root",
    "*",
    "a\x00b",
    "\u0430dmin",  # Cyrillic a
    "\uff41\uff44\uff4d\uff49\uff4e",  # fullwidth 'admin'
    "admin\u200b",  # zero-width space
    "x" * 20_000,
]

_SPECIFIC: dict[str, list[str]] = {
    "username": [
        "Alice",
        "alice.smith",
        "alice@example.org",
        "-alice",
        "alice-",
        "_alice",
        "alice bob ",
        " alice",
        "alice  bob",
        "a" * 33,
        "root:x:0:0",
        "jupyter-",
        "\u0430lice",
    ],
    "data_name": [".", "..", ".git", "data/sub", "Data", "data.git", "-data", "data-", "d" * 65, "data name"],
    "git_url": [
        "ext::sh -c touch% /tmp/pwned",
        "ext::sh -c 'id'",
        "fd::3",
        "file:///etc",
        "file://localhost/srv/repo",
        "ssh://git@github.com/org/repo.git",
        "git@github.com:org/repo.git",
        "git://github.com/org/repo.git",
        "http://github.com/org/repo.git",
        "HTTPS://github.com/org/repo.git",
        "https://user:pass@github.com/org/repo.git",
        "https://token@github.com/org/repo.git",
        "https://github.com/org/repo.git?x=1",
        "https://github.com/org/repo.git#main",
        "https://github.com/org/../../etc/passwd",
        "https://github.com/org/./repo",
        "https://github.com/org/repo;id",
        "https://github.com/org/$(id)",
        "https://github.com/org/-rf",
        "https://-oProxyCommand=id/org/repo",
        "https://github.com:99999999/org/repo",
        "https://github.com",
        "https://g\u0456thub.com/org/repo.git",  # Cyrillic i
        "https://github.com/org/repo.git\nhttps://evil.example/x",
        "https://github.com/org/repo.git --upload-pack=id",
        "https://github.com/" + "a" * 600,
        "/srv/local/repo",
    ],
    "git_ref": [
        "-b",
        "--upload-pack=id",
        "--output=/etc/passwd",
        "a..b",
        "a//b",
        "a/",
        "/a",
        ".hidden",
        "main.lock",
        "HEAD~1",
        "HEAD^",
        "main@{1}",
        "a b",
        "a:b",
        "refs/heads/../x",
        "a?",
        "a[",
        "r" * 129,
    ],
    "pip_spec": [
        "six; os_name == 'posix'",
        "six;os_name=='posix'",
        "six @ https://evil.example/six.whl",
        "six@https://evil.example/six.whl",
        "https://evil.example/six.whl",
        "git+https://github.com/org/repo",
        "./local-dir",
        "/tmp/six.whl",
        "-e .",
        "-e",
        "-r requirements.txt",
        "--index-url=https://evil.example",
        "--extra-index-url",
        "-i",
        "six==1.0 --user",
        "six[a;b]",
        "six===",
        "six==",
        "six==1.0;rm",
        "\uff53\uff49\uff58",
        "s" * 201,
    ],
    "conda_spec": [
        "conda-forge::gdal",
        "-c",
        "--channel=evil",
        "--override-channels",
        "https://evil.example/gdal.tar.bz2",
        "file:///tmp/gdal.conda",
        "./gdal.conda",
        "gdal[version='>3']",
        "gdal=3.9;id",
        "gdal==",
        "gdal=",
        "c" * 201,
    ],
    "instance_type": [
        "t3.medium;id",
        "T3.MEDIUM",
        "t3..medium",
        "t3.medium ",
        "t3",
        "t3.huge",
        "t3.$(id)",
        "m7i.2xlarge\n",
        "../t3.medium",
    ],
}

# Refused by hubagent's checks (rules.check_*) but not by an SSM allowedPattern, which cannot say
# "does not end in .lock" without lookaround. Harmless: git itself refuses such a ref.
PATTERN_EXEMPT: dict[str, set[str]] = {"git_ref": {"main.lock"}}

HOSTILE: dict[str, list[str]] = {
    kind: [v for v in COMMON if not (kind == "git_ref" and v == "")] + values
    for kind, values in _SPECIFIC.items()
}
