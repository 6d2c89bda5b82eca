"""The rehearsal's pieces that need no hub: how a failed cell is classified from what its error knows,
how a cell's leading imports are told apart, and the kernel WebSocket's framing."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from hubagent import cells, faults
from hubagent.kernel import WebSocket, _masked

FOLIUM = "/opt/tljh/user/lib/python3.12/site-packages/folium/raster_layers.py"


def situation(home: Path, **more: Any) -> faults.Situation:
    data = home.parent / "data"
    data.mkdir(exist_ok=True)
    return faults.Situation(home=home, data_root=data, cell_timeout=60, **more)


def error(kind: str, message: str, *kinds: str, **attributes: Any) -> dict[str, Any]:
    return {"type": kind, "kinds": [kind, *kinds], "message": message, **attributes}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A participant's home: the notebooks' folder, and a data repo linked in."""
    home = tmp_path / "jupyter-ada"
    (home / "course" / "completed").mkdir(parents=True)
    data = tmp_path / "data"
    (data / "workshopdata" / "shapes").mkdir(parents=True)
    (data / "workshopdata" / "shapes" / "countries.shp").write_text("x")
    (home / "workshopdata").symlink_to(data / "workshopdata")
    return home


def test_a_typo_in_a_path_gets_the_nearest_existing_one(home: Path) -> None:
    facts = {
        "cwd": str(home / "course"),
        "chain": [
            error(
                "builtins.FileNotFoundError",
                "[Errno 2] No such file or directory: 'workshopata/shapes/countries.shp'",
                "builtins.OSError",
                errno=2,
                filename="workshopata/shapes/countries.shp",
            )
        ],
    }
    found = faults.classify("error", "FileNotFoundError", "...", facts, situation(home))
    assert found.category == "missing-file"
    assert "the nearest existing path is '../workshopdata/shapes/countries.shp'" in found.hint
    assert "(~/workshopdata/shapes/countries.shp)" in found.hint


def test_a_library_message_naming_a_missing_path_is_read_too(home: Path) -> None:
    facts = {
        "cwd": str(home / "course"),
        "chain": [
            error(
                "pyogrio.errors.DataSourceError",
                "workshopdata/shapes/countries.shp: No such file or directory",
            )
        ],
    }
    found = faults.classify("error", "DataSourceError", "", facts, situation(home))
    assert found.category == "missing-file"
    assert "'../workshopdata/shapes/countries.shp'" in found.hint


def test_a_folder_nobody_made_and_pandas_own_words_for_it(home: Path) -> None:
    facts = {
        "cwd": str(home / "course"),
        "chain": [error("builtins.OSError", "Cannot save file into a non-existent directory: 'Data'")],
    }
    found = faults.classify("error", "OSError", "", facts, situation(home))
    assert found.category == "missing-folder"
    assert "the folder 'Data' does not exist and nobody made it" in found.hint
    assert "os.makedirs('Data', exist_ok=True)" in found.hint
    # a path with no similar file anywhere, in a folder that is not there either
    facts["chain"] = [
        error(
            "builtins.FileNotFoundError",
            "",
            errno=2,
            filename="output/figures/map.png",
            kinds=["builtins.FileNotFoundError"],
        )
    ]
    found = faults.classify("error", "FileNotFoundError", "", facts, situation(home))
    assert (
        found.category == "missing-folder"
        and "'output/figures', where 'output/figures/map.png'" in found.hint
    )


def test_a_folder_of_the_authors_own_account(home: Path) -> None:
    facts = {
        "cwd": str(home / "course"),
        "chain": [error("builtins.FileNotFoundError", "", errno=2, filename="/Users/jane/Desktop/course")],
    }
    found = faults.classify("error", "FileNotFoundError", "", facts, situation(home))
    assert found.category == "missing-folder" and "the author's own account or computer" in found.hint


def test_a_missing_module_gives_the_package_to_add(home: Path) -> None:
    def missing(name: str, modules: dict[str, Any] | None = None) -> faults.Finding:
        facts = {
            "chain": [error("builtins.ModuleNotFoundError", f"No module named '{name}'", name=name)],
            "modules": modules or {},
        }
        return faults.classify("error", "ModuleNotFoundError", "", facts, situation(home))

    assert missing("cv2").hint == "not installed on the hub: hubctl packages add opencv-python-headless"
    assert missing("osgeo.gdal").hint == "not installed on the hub: hubctl packages add --conda gdal"
    assert missing("folium").hint == "not installed on the hub: hubctl packages add folium"
    moved = missing(
        "sklearn.cross_validation",
        {"sklearn": {"installed": True, "distribution": "scikit-learn", "version": "1.5.2"}},
    )
    assert moved.category == "old-api"
    assert moved.hint.startswith(
        "scikit-learn 1.5.2 (installed on the hub) has no module sklearn.cross_validation"
    )


def test_a_library_refusing_an_old_call_is_named_with_its_version(home: Path) -> None:
    facts = {
        "chain": [
            error("builtins.ValueError", "Custom tiles must have an attribution.", "builtins.Exception")
        ],
        "frames": [["<ipython-input>", 3, "<module>"], [FOLIUM, 120, "__init__"]],
        "library_module": "folium",
        "modules": {"folium": {"installed": True, "distribution": "folium", "version": "0.20.0"}},
    }
    found = faults.classify(
        "error", "ValueError", "Custom tiles must have an attribution.", facts, situation(home)
    )
    assert found.category == "old-api"
    assert found.hint.startswith("folium 0.20.0 (installed on the hub) refused: ValueError: Custom tiles")
    imported = {
        "chain": [error("builtins.ImportError", "cannot import name 'Stamen' from 'folium.tiles' (/x.py)")],
        "modules": {"folium": {"installed": True, "distribution": "folium", "version": "0.20.0"}},
    }
    found = faults.classify("error", "ImportError", "", imported, situation(home))
    assert (
        found.category == "old-api"
        and "folium 0.20.0 (installed on the hub) has no Stamen in folium.tiles" in found.hint
    )


def test_a_missing_column_inside_a_library_is_the_notebooks_own_error(home: Path) -> None:
    facts = {
        "chain": [error("builtins.KeyError", "'populaton'", "builtins.LookupError")],
        "library_module": "pandas",
        "modules": {"pandas": {"installed": True, "distribution": "pandas", "version": "2.2.3"}},
    }
    assert faults.classify("error", "KeyError", "'populaton'", facts, situation(home)).category == "code"


def test_no_network_says_whether_the_hub_blocks_or_lacks_access(home: Path) -> None:
    facts = {
        "chain": [
            error("urllib.error.URLError", "<urlopen error [Errno 111] Connection refused>"),
            error(
                "builtins.ConnectionRefusedError",
                "[Errno 111] Connection refused",
                "builtins.ConnectionError",
                errno=111,
            ),
        ],
        "hosts": [["tiles.example.org", 443]],
    }
    blocked = faults.classify("error", "URLError", "", facts, situation(home, probe=lambda host, port: "ok"))
    assert blocked.category == "no-network"
    assert blocked.hint.startswith("the hub blocks it: tiles.example.org:443 answers the hub itself")
    lacking = faults.classify(
        "error",
        "URLError",
        "",
        facts,
        situation(home, probe=lambda host, port: f"{host}:{port} does not answer (timed out)"),
    )
    assert lacking.hint.startswith("the hub lacks access: tiles.example.org:443 does not answer (timed out)")
    # requests names the host only in its message
    said = {
        "chain": [
            error(
                "requests.exceptions.ConnectionError",
                "HTTPSConnectionPool(host='data.example.org', port=8443): Max retries exceeded",
            )
        ]
    }
    asked: list[tuple[str, int]] = []

    def probe(host: str, port: int) -> str:
        asked.append((host, port))
        return "ok"

    faults.classify("error", "ConnectionError", "", said, situation(home, probe=probe))
    assert asked == [("data.example.org", 8443)]


def test_the_hubs_own_view_of_a_host() -> None:
    assert faults.probe("host.example.invalid", 443).startswith("host.example.invalid does not resolve")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert faults.probe("127.0.0.1", listening.getsockname()[1]) == "ok"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert faults.probe("127.0.0.1", port).startswith(f"127.0.0.1:{port} does not answer")


def test_a_name_an_earlier_failed_cell_defines_follows_that_failure(home: Path) -> None:
    facts = {"chain": [error("builtins.NameError", "name 'gdf' is not defined", name="gdf")]}
    earlier = [(4, "import geopandas as gpd\ngdf = gpd.read_file('x.shp')")]
    found = faults.classify(
        "error", "NameError", "name 'gdf' is not defined", facts, situation(home, earlier=earlier)
    )
    assert (found.category, found.hint) == (
        "follow-on",
        "'gdf' comes from cell 4, which failed first: fix that cell",
    )
    alone = faults.classify("error", "NameError", "name 'gdf' is not defined", facts, situation(home))
    assert alone.category == "code"


def test_timeouts_and_deaths(home: Path) -> None:
    found = faults.classify("timeout", "", "", {}, situation(home))
    assert found.category == "timeout" and found.hint.startswith("interrupted after 60 s")
    died = faults.classify("died", "", "", {}, situation(home, peak_mib=1900.0, memory_limit="2G"))
    assert died.category == "kernel-died"
    assert "(its peak 1900 MiB, the per-participant limit 2G): out of memory?" in died.hint


def test_text_from_a_notebook_reaches_the_report_printable() -> None:
    assert faults.plain("\x1b[0;31mValueError\x1b[0m: bad\nline\x07", 60) == "ValueError: bad line"
    assert len(faults.plain("x" * 500, 300)) == 300


@pytest.mark.parametrize(
    ("source", "imports", "rest"),
    [
        (
            "import numpy as np\nfrom pathlib import Path\n",
            "import numpy as np\nfrom pathlib import Path\n",
            "",
        ),
        ("import numpy as np\nx = np.ones(3)\n", "import numpy as np\n", "x = np.ones(3)\n"),
        ("from a import (\n  b,\n  c)\nb(c)", "from a import (\n  b,\n  c)\n", "b(c)"),
        ("x = 1\nimport os\n", "", "x = 1\nimport os\n"),  # only leading imports are set apart
        ("%matplotlib inline\nimport os\n", "", "%matplotlib inline\nimport os\n"),  # IPython syntax: whole
        ("", "", ""),
    ],
)
def test_a_cells_leading_imports_are_set_apart(source: str, imports: str, rest: str) -> None:
    assert cells.split_imports(source) == (imports, rest)


def test_the_names_a_cell_binds() -> None:
    source = "import pandas as pd, os.path\nfrom x import y as z\ndf = pd.read_csv('a')\nfor i in range(3): pass\ndef f(): q = 1"
    assert cells.assigned_names(source) == {"pd", "os", "z", "df", "i", "f", "q"}


def frame(opcode: int, payload: bytes, *, final: bool = True) -> bytes:
    head = bytes([(0x80 if final else 0) | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    if len(payload) < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", len(payload)) + payload
    return head + bytes([127]) + struct.pack("!Q", len(payload)) + payload


@pytest.fixture
def pair() -> Any:
    ours, theirs = socket.socketpair()
    ws = WebSocket.__new__(WebSocket)
    ws.sock, ws.buffer, ws._kind, ws._pieces = ours, b"", 0, []
    yield ws, theirs
    ours.close()
    theirs.close()


def test_the_websocket_reads_frames_of_every_length_whole(pair: Any) -> None:
    ws, server = pair
    big = b"x" * 70_000
    server.sendall(frame(0x1, b"hello") + frame(0x1, b"y" * 300) + frame(0x1, big))
    assert ws.receive(2) == "hello"
    assert ws.receive(2) == "y" * 300
    assert ws.receive(2) == big.decode()
    # half a frame, then a timeout: nothing is lost, the rest completes it
    whole = frame(0x1, b'{"a": 1}')
    server.sendall(whole[:4])
    assert ws.receive(0.2) is None
    server.sendall(whole[4:])
    assert ws.receive(2) == '{"a": 1}'


def test_the_websocket_joins_fragments_skips_binary_and_answers_pings(pair: Any) -> None:
    ws, server = pair
    server.sendall(
        frame(0x1, b"par", final=False)
        + frame(0x9, b"ping!")
        + frame(0x0, b"ts")
        + frame(0x2, b"\x00\x01")
        + frame(0x1, b"next")
    )
    assert ws.receive(2) == "parts"
    assert ws.receive(2) == "next"
    pong = server.recv(100)
    assert pong[0] == 0x8A and pong[1] & 0x80  # a pong, masked as a client's frames are
    mask, payload = pong[2:6], pong[6:]
    assert _masked(payload, mask) == b"ping!"


def test_the_websocket_masks_what_it_sends(pair: Any) -> None:
    ws, server = pair
    ws.send("é" * 200)
    data = server.recv(1000)
    assert data[0] == 0x81 and data[1] == 0x80 | 126
    length = struct.unpack("!H", data[2:4])[0]
    assert _masked(data[8 : 8 + length], data[4:8]).decode() == "é" * 200
