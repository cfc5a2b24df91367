"""Where a webhook URL may lead: checked after resolution, refused with a code."""

import asyncio
import ipaddress

import pytest

from services.webhooks.guard import Target, UrlRefused, address_refusal, networks, parse, pick, vet


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.0.0.2", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fd00::1", "private"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
    ("100.64.0.1", "shared"), ("::ffff:127.0.0.1", "loopback"),
    ("93.184.215.14", None), ("2606:4700::1111", None)])
def test_each_kind_of_internal_address_is_refused_and_public_ones_are_not(address, kind):
    assert address_refusal(ipaddress.ip_address(address)) == kind


def test_an_allow_listed_network_is_called_and_only_that_one():
    allowed = networks(["127.0.0.1/32"])
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("127.0.0.2"), allowed) == "loopback"


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://example.com/hook", "url_scheme_refused"), ("file:///etc/passwd", "url_scheme_refused"),
    ("gopher://example.com", "url_scheme_refused"), ("example.com/hook", "url_scheme_refused"),
    ("http://", "invalid_url"), ("http://user:pw@example.com/", "invalid_url"),
    ("http://example.com:99999/", "invalid_url")])
def test_what_is_not_an_http_url_is_refused_before_any_lookup(url, code):
    with pytest.raises(UrlRefused) as refused:
        parse(url)
    assert refused.value.code == code


def test_a_name_with_one_internal_answer_among_public_ones_is_refused():
    with pytest.raises(UrlRefused) as refused:
        pick("mixed.example", ["93.184.215.14", "10.0.0.5"])
    assert refused.value.code == "url_address_refused"
    assert "private" in refused.value.detail
    assert pick("public.example", ["93.184.215.14", "93.184.215.14"]) == "93.184.215.14"


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UrlRefused) as refused:
        pick("nowhere.example", [])
    assert refused.value.code == "url_unresolvable"


def test_vet_resolves_names_and_connects_to_the_checked_address():
    target = asyncio.run(vet("http://localhost:8123/hook?x=1", networks(["127.0.0.1/32"])))
    assert target == Target("http", "localhost", 8123, "127.0.0.1")
    assert target.url_for("http://localhost:8123/hook?x=1") == "http://127.0.0.1:8123/hook?x=1"
    with pytest.raises(UrlRefused) as refused:
        asyncio.run(vet("http://localhost:8123/hook"))
    assert refused.value.code == "url_address_refused"


def test_an_ipv6_target_keeps_its_brackets():
    target = Target("https", "example.com", 443, "2606:4700::1111")
    assert target.url_for("https://example.com/a") == "https://[2606:4700::1111]:443/a"
