"""Data repos must be on a public host (hubagent/addresses.py, through rules.check_git_url): the API,
workshop.yaml and hubagent refuse a URL naming a non-public address, in any form git would read."""

from __future__ import annotations

import ipaddress

import pytest
from hubagent import addresses, rules


@pytest.mark.parametrize(
    ("repo", "why"),
    [
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254, which is not a public address"),
        ("https://127.0.0.1:8443/x", "127.0.0.1, which is not a public address"),
        ("https://2130706433/x", "127.0.0.1, which is not a public address"),  # decimal
        ("https://0x7f000001/x", "127.0.0.1, which is not a public address"),  # hex
        ("https://0177.0.0.1/x", "127.0.0.1, which is not a public address"),  # octal
        ("https://127.1/x", "127.0.0.1, which is not a public address"),  # short form
        ("https://0xa9.254.169.254/x", "169.254.169.254, which is not a public address"),
        ("https://10.1.2.3/x", "10.1.2.3, which is not a public address"),
        ("https://172.31.0.2/x", "172.31.0.2, which is not a public address"),
        ("https://192.168.0.10/x", "192.168.0.10, which is not a public address"),
        ("https://100.64.0.1/x", "100.64.0.1, which is not a public address"),  # shared (CGNAT)
        ("https://0.0.0.0/x", "0.0.0.0, which is not a public address"),
        ("https://224.0.0.251/x", "224.0.0.251, which is not a public address"),
        ("https://localhost/x", "'localhost', a local or internal host"),
        ("https://LocalHost:9/x", "'localhost', a local or internal host"),
        ("https://api.localhost/x", "'api.localhost', a local or internal host"),
        ("https://instance-data.ec2.internal/latest", "a local or internal host"),
        ("https://metadata.google.internal/x", "a local or internal host"),
        ("https://nas.local/x", "a local or internal host"),
        ("https://gitlab/x", "a name without a domain"),
        ("https://134744072/x", "writes the address 8.8.8.8 as '134744072': write it as 8.8.8.8"),
        ("https://[::1]/x", "is not an allowed git URL"),  # IPv6 literals: never in a repo URL
        ("https://[::ffff:127.0.0.1]/x", "is not an allowed git URL"),
        ("https://[fd00:ec2::254]/x", "is not an allowed git URL"),
    ],
)
def test_a_url_naming_a_non_public_host_is_refused_naming_the_field(repo: str, why: str) -> None:
    with pytest.raises(rules.RuleError) as refused:
        rules.check_git_url(repo, "data_repos[0].repo")
    assert refused.value.field == "data_repos[0].repo" and why in str(refused.value)


@pytest.mark.parametrize(
    "repo",
    [
        "https://github.com/a/b",
        "https://8.8.8.8/x",
        "https://git.sandbox.invalid/ws",
        "https://gitlab.example.org:8443/g/r",
    ],
)
def test_public_hosts_pass(repo: str) -> None:
    assert rules.check_git_url(repo) == repo


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),  # the metadata service over IPv6 (Nitro)
        ("::ffff:169.254.169.254", False),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 carrying 169.254.169.254
        ("2002:7f00:1::1", False),  # 6to4 carrying 127.0.0.1
        ("ff02::1", False),
    ],
)
def test_an_address_is_judged_by_the_address_it_carries(address: str, public: bool) -> None:
    assert addresses.is_public(ipaddress.ip_address(address)) is public


def test_ipv4_is_read_as_inet_aton_reads_it() -> None:
    read = addresses.ipv4_any_form
    assert [str(read(h)) for h in ("127.1", "0x7f.1", "2130706433", "0177.0.0.01", "10.0x10.1")] == [
        "127.0.0.1",
        "127.0.0.1",
        "127.0.0.1",
        "127.0.0.1",
        "10.16.0.1",
    ]
    assert [read(h) for h in ("github.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1", "")] == [None] * 5
