"""firewalld services: the stock catalogue generated from Debian's package, and repo-defined ones."""

from __future__ import annotations

import json
from pathlib import Path

from checks.firewall import firewalld_services
from checks.firewall.check import RootReader, lint_text
from checks.firewall.judge import judge

ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <service name="ssh"/>
  {extra}
</zone>
"""


def _lint(extra: str, tmp: Path | None = None, path: str = "etc/firewalld/zones/public.xml"):
    text = ZONE.replace("{extra}", extra)
    reader = None
    if tmp is not None:
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / path).write_text(text)
        reader = RootReader(tmp)
    v = lint_text(text, path, None, reader)
    return v, judge(v, [v])


def test_catalogue_records_the_packages_it_came_from() -> None:
    cat = firewalld_services.catalogue()
    assert cat["packages"] and all("deb" in p or "." in p for p in cat["packages"])
    assert len(cat["services"]) > 200
    assert firewalld_services.tcp_ranges("imaps") == ((993, 993),)
    assert (143, 143) in firewalld_services.tcp_ranges("imap")


def test_stock_services_the_old_table_lacked_are_judged() -> None:
    extra = "\n".join(f'<service name="{s}"/>' for s in
                      ("samba-client", "mdns", "ipp", "dhcpv6-client", "ws-discovery", "kdeconnect",
                       "freeipa-4", "netbios-ns", "ws-discovery-client"))
    v, findings = _lint(extra)
    assert [f.rule_id for f in findings] == []
    assert v.exposure(143, "ipv4").state == "closed"
    assert v.exposure(993, "ipv6").state == "closed"


def test_a_stock_range_that_covers_143_opens_it() -> None:
    # vnc-server opens 5900-5903 only; kube-nodeport-services opens 30000-32767: neither is 143,
    # but a stock service whose range includes 993 must open it.
    hits = [n for n in firewalld_services.catalogue()["services"]
            if any(lo <= 993 <= hi for lo, hi in firewalld_services.tcp_ranges(n))]
    assert "imaps" in hits
    _v, findings = _lint('<service name="imaps"/>')
    assert [f.rule_id for f in findings] == ["FW005", "FW005"]


def test_includes_are_followed(tmp_path: Path) -> None:
    svc = tmp_path / "etc/firewalld/services/mail.xml"
    svc.parent.mkdir(parents=True)
    svc.write_text('<?xml version="1.0"?><service><include service="imap"/>'
                   '<port port="4190" protocol="tcp"/></service>')
    v, findings = _lint('<service name="mail"/>', tmp_path)
    assert v.exposure(143, "ipv4").state == "open-world"
    assert "FW001" in [f.rule_id for f in findings]
    assert "FW006" not in [f.rule_id for f in findings]


def test_a_repo_service_overrides_the_stock_one(tmp_path: Path) -> None:
    svc = tmp_path / "etc/firewalld/services/ssh.xml"
    svc.parent.mkdir(parents=True)
    svc.write_text('<?xml version="1.0"?><service><port port="143" protocol="tcp"/></service>')
    v, _ = _lint("", tmp_path)
    assert v.exposure(143, "ipv4").state == "open-world"


def test_an_unknown_service_is_fw006_on_its_line() -> None:
    v, findings = _lint('<service name="wsdd-made-up"/>')
    fw006 = [f for f in findings if f.rule_id == "FW006"]
    assert fw006 and fw006[0].location.line == 5
    assert "wsdd-made-up" in fw006[0].message
    assert v.exposure(143, "ipv4").state == "unknown"


def test_a_broken_repo_service_file_is_not_read_as_empty(tmp_path: Path) -> None:
    svc = tmp_path / "etc/firewalld/services/mine.xml"
    svc.parent.mkdir(parents=True)
    svc.write_text("<service><port port=")
    _, findings = _lint('<service name="mine"/>', tmp_path)
    assert any(f.rule_id == "FW006" and "mine" in f.message for f in findings)


def test_the_data_file_is_what_the_script_writes() -> None:
    data = json.loads((Path(firewalld_services.__file__).parent / "firewalld_services.json").read_text())
    assert data["generated_by"] == "scripts/firewalld_services.py"
    for name, svc in data["services"].items():
        assert set(svc) >= {"ports", "includes", "helpers", "versions"}, name
