"""CPIX 2.3 (DASH-IF Content Protection Information Exchange) documents, without I/O: a
video's content keys in the form commercial DRM services (Widevine, PlayReady, FairPlay
license servers, SPEKE) take them. Each key is a `cpix:ContentKey` with its kid and the
clear value in `pskc:PlainValue` (the document is sent over an authenticated API only;
an encrypted document key, `cpix:DeliveryDataList`, is not offered yet). The ClearKey
system is listed per key, as the package signals it."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from services.shared.envelope import ContentKey

CPIX_NS = "urn:dashif:org:cpix"
PSKC_NS = "urn:ietf:params:xml:ns:keyprov:pskc"
CLEARKEY_SYSTEM_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"
VERSION = "2.3"


def cpix_document(content_id: str, keys: Sequence[tuple[ContentKey, str]]) -> str:
    """`keys`: (key, common encryption scheme) pairs."""
    ET.register_namespace("cpix", CPIX_NS)
    ET.register_namespace("pskc", PSKC_NS)
    root = ET.Element(f"{{{CPIX_NS}}}CPIX", {"contentId": content_id, "version": VERSION})
    key_list = ET.SubElement(root, f"{{{CPIX_NS}}}ContentKeyList")
    systems = ET.SubElement(root, f"{{{CPIX_NS}}}DRMSystemList")
    for key, scheme in keys:
        entry = ET.SubElement(key_list, f"{{{CPIX_NS}}}ContentKey",
                              {"kid": key.kid, "commonEncryptionScheme": scheme})
        data = ET.SubElement(entry, f"{{{CPIX_NS}}}Data")
        secret = ET.SubElement(data, f"{{{PSKC_NS}}}Secret")
        ET.SubElement(secret, f"{{{PSKC_NS}}}PlainValue").text = \
            base64.b64encode(key.key).decode()
        ET.SubElement(systems, f"{{{CPIX_NS}}}DRMSystem",
                      {"kid": key.kid, "systemId": CLEARKEY_SYSTEM_ID})
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
