"""workshop.yaml: the example parses, and every bad value is named with its path and its rule."""

from pathlib import Path

import pytest
from workshop_hub import config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
CERT = "certificate/0b5f1c2e-3d4a-4b6c-8d7e-9f0a1b2c3d4e"


def test_the_example_file_is_valid() -> None:
    cfg = config.load(ROOT / "workshop.yaml")
    assert cfg.hub.tljh_version == "2.0.0"
    assert cfg.schedule.timezone == "Europe/Berlin"
    assert [repo.name for repo in cfg.data_repos] == ["workshopdata"]


def test_an_empty_file_gives_the_defaults() -> None:
    cfg = config.parse(None)
    assert cfg.hub.instance_type == "t3.medium"
    assert cfg.hub.volume_gib == 30
    assert cfg.schedule.night_stop is not None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"schedule": {"timezone": "Mars/Base"}}, "schedule.timezone: 'Mars/Base' is not an IANA time zone"),
        ({"hub": {"admin": "Bad Name"}}, "hub.admin: 'Bad Name' is not a valid hub user name"),
        ({"hub": {"volume_gib": 5}}, "hub.volume_gib: 5 Input should be greater than or equal to 10"),
        ({"hub": {"instance_type": "huge"}}, "hub.instance_type: 'huge' is not an EC2 instance type"),
        ({"hub": {"tljh_version": "latest"}}, "hub.tljh_version: 'latest' String should match pattern"),
        (
            {"data_repos": [{"name": "d", "repo": "file:///etc"}]},
            "data_repos[0].repo: 'file:///etc' is not an allowed git URL",
        ),
        (
            {"data_repos": [{"name": "../x", "repo": "https://h.org/r"}]},
            "data_repos[0].name: '../x' is not a valid data name",
        ),
        (
            {"packages": {"pip": ["-e git+https://evil"]}},
            "packages.pip[0]: '-e git+https://evil' is not an allowed pip requirement",
        ),
        (
            {"schedule": {"night_stop": {"time": "25:00"}}},
            "schedule.night_stop.time: '25:00' is not a 24-hour time",
        ),
        (
            {"schedule": {"night_stop": {"time": "22:00", "days": ["MONDAY"]}}},
            "schedule.night_stop.days[0]: 'MONDAY' Input should be",
        ),
        (
            {
                "sessions": [
                    {"date": "2026-12-03", "start": "17:00", "end": "09:00", "instance_type": "t3.large"}
                ]
            },
            "sessions[0]: end 09:00 must be later than start 17:00",
        ),
        (
            {"https": {"domain": "hub.example.org", "email": "instructor@example.org"}},
            "https: email is no longer used: CloudFront serves the domain with an ACM certificate, not Let's "
            "Encrypt; remove https.email; certificate_arn is required with a domain",
        ),
        (
            {
                "https": {
                    "domain": "hub.example.org",
                    "certificate_arn": f"arn:aws:acm:eu-west-1:{ACCOUNT}:{CERT}",
                }
            },
            "https.certificate_arn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f1c2e...' is in "
            "eu-west-1: CloudFront takes certificates from us-east-1 only",
        ),
        (
            {"https": {"domain": "hub.example.org", "certificate_arn": "arn:aws:iam::123456789012:role/x"}},
            "https.certificate_arn: 'arn:aws:iam::123456789012:role/x' is not an ACM certificate ARN",
        ),
        (
            {
                "https": {
                    "domain": "Hub.Example.org",
                    "certificate_arn": f"arn:aws:acm:us-east-1:{ACCOUNT}:{CERT}",
                }
            },
            "https.domain: 'Hub.Example.org' is not a lowercase DNS name",
        ),
        ({"hub": {"nmae": "x"}}, "hub.nmae: 'x' is not a known setting"),
    ],
)
def test_a_bad_value_names_its_path_and_rule(data: dict[str, object], expected: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(data)
    assert expected in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.parse({"hub": {"admin": "A", "volume_gib": 1}, "schedule": {"timezone": "Nowhere"}})
    assert "has 3 problem(s)" in str(raised.value)


def test_repeated_data_names_are_refused() -> None:
    repo = {"name": "data", "repo": "https://example.org/data.git"}
    with pytest.raises(config.ConfigError, match="names must be unique, repeated: data"):
        config.parse({"data_repos": [repo, repo]})


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(config.ConfigError, match="must be a mapping"):
        config.load(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("hub: [\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(tmp_path / "broken.yaml")


def test_json_round_trip_is_what_the_functions_read() -> None:
    cfg = config.load(ROOT / "workshop.yaml")
    assert config.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("name", ["aws-hub", "amazon-workshop", "amzn-x", "awsec2-lab", "awssupport-1"])
def test_a_hub_name_aws_reserves_is_refused(name: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.parse({"hub": {"name": name}})
    assert f"hub.name: '{name}' must not start with" in str(raised.value)
    assert "SSM refuses such document names" in str(raised.value)


@pytest.mark.parametrize("name", ["workshop-hub", "my-aws-hub", "lab-amazon"])
def test_aws_inside_a_hub_name_is_fine(name: str) -> None:
    assert config.parse({"hub": {"name": name}}).hub.name == name


def session(instance_type: str, date: str = "2026-12-03") -> dict[str, str]:
    return {"date": date, "start": "09:00", "end": "12:00", "instance_type": instance_type}


def test_a_session_type_of_another_architecture_is_refused_naming_the_field() -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(
            {
                "hub": {"instance_type": "t3.medium"},
                "sessions": [session("t3.xlarge"), session("t4g.xlarge", "2026-12-04"), session("a1.large")],
            }
        )
    message = str(raised.value)
    assert "has 2 problem(s)" in message
    assert "\nsessions[1].instance_type: 't4g.xlarge' is arm64 but the hub (t3.medium) is x86_64" in message
    assert "\nsessions[2].instance_type: 'a1.large' is arm64" in message
    assert "sessions[0]" not in message and "(file)" not in message


def test_sessions_of_an_arm_hub_stay_arm() -> None:
    cfg = config.parse({"hub": {"instance_type": "t4g.medium"}, "sessions": [session("m7g.xlarge")]})
    assert cfg.sessions[0].instance_type == "m7g.xlarge"
    with pytest.raises(config.ConfigError, match=r"sessions\[0\].instance_type: 'm7i.xlarge' is x86_64"):
        config.parse({"hub": {"instance_type": "t4g.medium"}, "sessions": [session("m7i.xlarge")]})


def test_a_hub_type_without_a_known_architecture_is_refused() -> None:
    with pytest.raises(
        config.ConfigError, match=r"hub.instance_type: 'u-6tb1.metal' cannot tell its architecture"
    ):
        config.parse({"hub": {"instance_type": "u-6tb1.metal"}})


def test_an_auto_session_is_checked_when_the_plan_resolves_it() -> None:
    cfg = config.parse({"hub": {"instance_type": "t3.medium"}, "sessions": [session("auto")]})
    assert cfg.sessions[0].instance_type == "auto"


def test_a_domain_takes_a_us_east_1_certificate_whatever_the_hubs_region() -> None:
    arn = f"arn:aws:acm:us-east-1:{ACCOUNT}:{CERT}"
    settings = config.parse(
        {"hub": {"region": "eu-central-1"}, "https": {"domain": "hub.example.org", "certificate_arn": arn}}
    )
    assert settings.https is not None
    assert (settings.https.domain, settings.https.certificate_arn) == ("hub.example.org", arn)
    # The deployed settings (workshop.json, read by the functions) carry it unchanged.
    assert config.from_json(settings.to_json()) == settings
    # No https at all is the default: CloudFront's own name and certificate.
    assert config.parse({}).https is None
