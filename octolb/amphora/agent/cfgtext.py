"""Facts read out of an HAProxy configuration text: stats socket path and frontends."""

from __future__ import annotations

from pathlib import Path

_SECTIONS = {
    "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
    "userlist", "program", "mailers", "http-errors", "ring", "cache",
}


def sections(text: str) -> list[tuple[str, str, list[list[str]]]]:
    """(keyword, name, directive lines split into words) for every section, in order."""
    result: list[tuple[str, str, list[list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] in _SECTIONS:
            result.append((words[0], words[1] if len(words) > 1 else "", []))
        elif result:
            result[-1][2].append(words)
    return result


def stats_socket(text: str, base_path: Path) -> Path | None:
    """Path of the first UNIX ``stats socket`` in ``global``.

    A relative path (``unix@name.sock``) is relative to HAProxy's working
    directory, which the agent sets to ``base_path``.
    """
    for keyword, _, lines in sections(text):
        if keyword != "global":
            continue
        for words in lines:
            if len(words) < 3 or words[:2] != ["stats", "socket"]:
                continue
            address = words[2]
            if address.startswith("unix@"):
                address = address[len("unix@"):]
            elif not address.startswith("/"):
                continue  # ipv4@, abns@, fd@, host:port: not a file we can reach
            return base_path / address
    return None


def frontends(text: str) -> list[dict[str, str]]:
    """One ``{"status", "uuid", "type"}`` entry per ``frontend`` section, as Octavia lists them."""
    result = []
    default_mode = "tcp"
    for keyword, name, lines in sections(text):
        if keyword == "defaults":
            default_mode = _mode(lines) or default_mode
        if keyword != "frontend":
            continue
        kind = (_mode(lines) or default_mode).upper()
        for words in lines:
            if words[0] == "bind" and "ssl" in words and ("crt-list" in words or "crt" in words):
                kind = "TERMINATED_HTTPS"
        result.append({"status": "ACTIVE", "uuid": name, "type": kind})
    return result


def _mode(lines: list[list[str]]) -> str | None:
    for words in lines:
        if words[0] == "mode" and len(words) > 1:
            return words[1]
    return None


def files_named(text: str, directory: Path) -> tuple[set[str], set[str], set[str]]:
    """(names of the files of `directory` the configuration names by absolute path, the
    ones among them it loads as a crt-list, the `.pem` paths it names elsewhere)."""
    names: set[str] = set()
    crt_lists: set[str] = set()
    elsewhere: set[str] = set()
    for _, _, lines in sections(text):
        for words in lines:
            for i, word in enumerate(words):
                if not word.startswith("/"):
                    continue
                path = Path(word)
                if path.parent != directory:
                    if path.suffix == ".pem":
                        elsewhere.add(word)
                    continue
                names.add(path.name)
                if i > 0 and words[i - 1] == "crt-list":
                    crt_lists.add(path.name)
    return names, crt_lists, elsewhere


def crt_list_paths(text: str) -> list[str]:
    """The certificate path of each line of a crt-list (`<path> [ssl options] [filters]`)."""
    paths = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            paths.append(line.split()[0])
    return paths
