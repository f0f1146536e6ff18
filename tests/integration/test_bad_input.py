"""Hostile and malformed input over real HTTP.

Every bad request must get a prompt 4xx (ProblemDetails whose `detail` names what was wrong)
and must not disturb the server: after each test a normal create + read still succeeds.
Bounds: every bad request is answered within BOUND seconds.
"""
import json
import socket
import threading
import time
import unittest

from hub import Hub, HubTestCase

BOUND = 2.0
E = "/ngsi-ld/v1/entities"


def entity(eid, **attrs):
    body = {"id": eid, "type": "Probe"}
    for k, v in attrs.items():
        body[k] = {"type": "Property", "value": v}
    return body


def raw_exchange(port, data, read_timeout=BOUND + 3):
    """Sends raw bytes; returns (status or None, body text, seconds until the answer/close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    start = time.monotonic()
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
            if _complete(b"".join(chunks)):
                break
    finally:
        s.close()
    return _status_of(b"".join(chunks)) + (time.monotonic() - start,)


def _complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip())
    return False


def _status_of(buf):
    if not buf.startswith(b"HTTP/1."):
        return (None, buf.decode(errors="replace"))
    head, _, body = buf.partition(b"\r\n\r\n")
    return (int(head.split(b" ")[1]), body.decode(errors="replace"))


class BadInputCase(HubTestCase):
    n = 0

    def timed(self, method, path, body=None, **kw):
        start = time.monotonic()
        r = self.hub.request(method, path, body, **kw)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, BOUND, f"{method} {path} took {elapsed:.2f}s: {r}")
        return r

    def bad(self, status, detail_words, method, path, body=None, error_type=None, **kw):
        """Asserts a ProblemDetails `status` whose detail contains every word of `detail_words`."""
        r = self.timed(method, path, body, **kw)
        p = self.assertProblem(r, status, error_type)
        for w in detail_words:
            self.assertIn(w.lower(), p["detail"].lower(), r)
        return p

    def tearDown(self):
        # The server keeps serving normal requests after whatever the test sent.
        BadInputCase.n += 1
        eid = f"urn:ngsi-ld:Probe:after-{type(self).__name__}-{BadInputCase.n}"
        r = self.hub.post(E, entity(eid, speed=1))
        self.assertEqual(r.status, 201, r)
        r = self.hub.get(f"{E}/{eid}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["speed"]["value"], 1)


class TestBodies(BadInputCase):
    def test_malformed_json(self):
        for text in ['{"id": "urn:a:b", ', '{"id": urn}', "{'id': 'urn:a:b'}", '{"a":1,}', "\xff\xfe"]:
            with self.subTest(text=text):
                self.bad(400, ["JSON"], "POST", E, text.encode("latin-1"), error_type="InvalidRequest")

    def test_empty_body_and_non_object(self):
        self.bad(400, ["empty"], "POST", E, b"")
        self.bad(400, ["object"], "POST", E, [entity("urn:ngsi-ld:Probe:arr")])
        self.bad(400, ["object"], "POST", E, "42")

    def test_bare_nan_is_invalid_json(self):
        for token in ["NaN", "Infinity", "-Infinity", "nan"]:
            with self.subTest(token=token):
                text = '{"id": "urn:ngsi-ld:Probe:nan", "type": "Probe", "x": {"type": "Property", "value": %s}}' % token
                self.bad(400, ["JSON"], "POST", E, text)

    def test_nan_string_is_a_fine_value(self):
        eid = "urn:ngsi-ld:Probe:nan-string"
        r = self.timed("POST", E, entity(eid, x="NaN"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["x"]["value"], "NaN")

    def test_out_of_range_number_never_yields_invalid_json(self):
        eid = "urn:ngsi-ld:Probe:huge-number"
        text = '{"id": "%s", "type": "Probe", "x": {"type": "Property", "value": 1e400}}' % eid
        r = self.timed("POST", E, text)
        if r.status == 201:
            got = self.hub.get(f"{E}/{eid}")
            self.assertEqual(got.status, 200, got)

            def reject(c):
                raise ValueError(f"non-JSON constant {c} in response")
            json.loads(got.body, parse_constant=reject)  # strict JSON: no Infinity / NaN
        else:
            self.assertProblem(r, 400)

    def test_deep_nesting(self):
        for text in ["[" * 100000 + "]" * 100000,
                     '{"id": "urn:ngsi-ld:Probe:deep", "type": "Probe", "x": {"type": "Property", "value": '
                     + '{"a":' * 100000 + "1" + "}" * 100001]:
            with self.subTest(kind=text[:1]):
                self.bad(400, ["nested"], "POST", E, text, error_type="InvalidRequest")

    def test_moderate_nesting_is_fine(self):
        eid = "urn:ngsi-ld:Probe:nested-ok"
        value = 1
        for _ in range(30):
            value = {"a": value}
        r = self.timed("POST", E, entity(eid, x=value))
        self.assertEqual(r.status, 201, r)

    def test_body_over_default_limit(self):
        body = entity("urn:ngsi-ld:Probe:big", blob="x" * (1 << 20))
        r = self.timed("POST", E, body)
        self.assertProblem(r, 413)
        self.assertIn("max_body_bytes", r.json()["detail"])

    def test_declared_length_over_limit_is_refused_before_the_body(self):
        head = (f"POST {E} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {50 << 20}\r\n\r\n").encode()
        status, body, secs = raw_exchange(self.hub.port, head)
        self.assertEqual(status, 413, body)
        self.assertLess(secs, BOUND)

    def test_wrong_content_type(self):
        body = json.dumps(entity("urn:ngsi-ld:Probe:ct")).encode()
        for ct in ["text/plain", "application/xml", "application/x-www-form-urlencoded"]:
            with self.subTest(ct=ct):
                self.bad(415, ["Content-Type", ct], "POST", E, body, content_type=ct)
        # §6.3.4: application/merge-patch+json is for PATCH requests only
        self.bad(415, ["Content-Type"], "POST", f"{E}/urn:ngsi-ld:Probe:ct/attrs", body,
                 content_type="application/merge-patch+json")

    def test_merge_patch_content_type_only_for_merge(self):
        eid = "urn:ngsi-ld:Probe:merge-ct"
        self.assertEqual(self.hub.post(E, entity(eid, a=1)).status, 201)
        r = self.timed("PATCH", f"{E}/{eid}", {"a": {"type": "Property", "value": 2}},
                       content_type="application/merge-patch+json")
        self.assertEqual(r.status, 204, r)


    def test_invalid_utf8_in_a_string(self):
        text = b'{"id": "urn:ngsi-ld:Probe:utf8", "type": "Probe", "x": {"type": "Property", "value": "a\xff\xfeb"}}'
        self.bad(400, ["JSON"], "POST", E, text)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Probe:utf8").status, 404)

    def test_unicode_escapes_survive(self):
        eid = "urn:ngsi-ld:Probe:unicode"
        r = self.timed("POST", E, entity(eid, x="\u0000 \u2028 \U0001F600 \"quoted\""))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.get(f"{E}/{eid}").json()["x"]["value"], "\u0000 \u2028 \U0001F600 \"quoted\"")

    def test_deep_sub_attributes(self):
        attr = {"type": "Property", "value": 1}
        for _ in range(20):
            attr = {"type": "Property", "value": 1, "sub": attr}
        self.bad(400, ["speed", "deeper"], "POST", E, {"id": "urn:ngsi-ld:Probe:subdeep", "type": "Probe", "speed": attr})

    def test_too_many_instances(self):
        inst = [{"type": "Property", "value": i, "datasetId": f"urn:ngsi-ld:Dataset:{i}"} for i in range(150)]
        self.bad(400, ["speed", "100"], "POST", E, {"id": "urn:ngsi-ld:Probe:inst", "type": "Probe", "speed": inst})

    def test_id_too_long(self):
        self.bad(400, ["id"], "POST", E, {"id": "urn:ngsi-ld:Probe:" + "x" * 5000, "type": "Probe"})

    def test_unavailable_context(self):
        link = {"Link": '<http://192.0.2.1/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}
        r = self.timed("POST", E, entity("urn:ngsi-ld:Probe:ctx"), headers=link)
        self.assertIn(r.status, (400, 504), r)  # 504: LdContextNotAvailable (v1.9.1 §5.5.2)
        self.assertIn("192.0.2.1", r.json()["detail"])
        body = dict(entity("urn:ngsi-ld:Probe:ctx"), **{"@context": ["http://192.0.2.1/ctx.jsonld"]})
        r = self.timed("POST", E, json.dumps(body), content_type="application/ld+json")
        self.assertIn(r.status, (400, 504), r)  # 504: LdContextNotAvailable (v1.9.1 §5.5.2)
        body["@context"] = {"x": {"@id": 5}}
        r = self.timed("POST", E, json.dumps(body), content_type="application/ld+json")
        self.assertProblem(r, 400)

    def test_bad_query_parameters(self):
        self.bad(400, ["limit"], "GET", f"{E}?type=Probe&limit=abc")
        self.bad(400, ["offset"], "GET", f"{E}?type=Probe&offset=-1")
        self.assertProblem(self.timed("GET", f"{E}?type=Probe&limit=100000"), 403)
        self.bad(400, ["options"], "GET", f"{E}?type=Probe&options=bogus")
        self.bad(400, [], "GET", f"{E}")
        r = self.timed("GET", f"{E}?type=Probe", headers={"Accept": "text/html"})
        self.assertProblem(r, 406)


class TestSmallBodyLimit(BadInputCase):
    hub_args = ("--max-body-bytes", "1000")

    def test_limit_is_configurable(self):
        ok = entity("urn:ngsi-ld:Probe:small-ok", note="y" * 200)
        self.assertEqual(self.timed("POST", E, ok).status, 201)
        big = entity("urn:ngsi-ld:Probe:small-big", note="y" * 2000)
        p = self.bad(413, ["1000"], "POST", E, big)
        self.assertIn("max_body_bytes", p["detail"])
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Probe:small-big").status, 404)

    def test_chunked_body_over_limit(self):
        chunk = b"y" * 600
        data = (f"POST {E} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()
        data += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        status, body, secs = raw_exchange(self.hub.port, data)
        self.assertEqual(status, 413, body)
        self.assertLess(secs, BOUND)


class TestIdsAndNames(BadInputCase):
    def test_entity_id_not_a_uri(self):
        for bad_id in ["not a uri", "plainword", "urn:has space", ":nocheme", "1abc:x", "", 42, None]:
            with self.subTest(id=bad_id):
                p = self.bad(400, ["id"], "POST", E, {"id": bad_id, "type": "Probe"}, error_type="BadRequestData")
                if isinstance(bad_id, str) and bad_id:
                    self.assertIn(bad_id, p["detail"])

    def test_path_id_not_a_uri(self):
        self.bad(400, ["not a URI"], "GET", f"{E}/plainword")
        self.bad(400, ["not a URI"], "DELETE", f"{E}/plainword")
        self.bad(400, ["not a URI"], "PATCH", f"{E}/plainword/attrs", {"a": {"type": "Property", "value": 1}})

    def test_forbidden_characters_in_type(self):
        for t in ["Bad Type", "Bad\u0001Type", "Bad\tType", "a<b", "a>b", 'a"b', "a'b", "a=b", "a;b", "a(b", "a)b", "a\\b", "", "x" * 600]:
            with self.subTest(type=t):
                p = self.bad(400, ["type"], "POST", E, {"id": "urn:ngsi-ld:Probe:badtype", "type": t})
                self.assertIn("invalid", p["detail"])
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Probe:badtype").status, 404)

    def test_forbidden_characters_in_attribute_names(self):
        for name in ["sp eed", "speed\u0000", "sp\u007feed", "a<b", "a=b", "a;b", "f(x)", "q'"]:
            with self.subTest(name=name):
                body = {"id": "urn:ngsi-ld:Probe:badattr", "type": "Probe", name: {"type": "Property", "value": 1}}
                p = self.bad(400, ["attribute"], "POST", E, body)
                self.assertIn("invalid", p["detail"])

    def test_forbidden_characters_in_sub_attribute_names(self):
        body = {"id": "urn:ngsi-ld:Probe:badsub", "type": "Probe",
                "speed": {"type": "Property", "value": 1, "acc uracy": {"type": "Property", "value": 1}}}
        self.bad(400, ["speed", "sub-attribute"], "POST", E, body)

    def test_forbidden_characters_in_query_type(self):
        self.bad(400, ["type"], "GET", f"{E}?type=Bad%28Type")
        self.bad(400, ["attrs"], "GET", f"{E}?type=Probe&attrs=a%3Db")

    def test_names_must_expand_to_iris(self):
        # A @context mapping a term to a keyword or a bare word must not let an attribute
        # overwrite the entity's id/type or an attribute's own value.
        core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
        prop = {"type": "Property", "value": 2}
        speed = {"type": "Property", "value": 1}
        rejected = [({"sp": "@id"}, {"sp": prop}), ({"sp": "id"}, {"sp": prop}), ({"sp": "@type"}, {"sp": prop}), ({}, {"@graph": prop}),
                    ({"sp": "type"}, {"speed": dict(speed, sp=prop)}),
                    ({}, {"speed": dict(speed, **{"@foo": prop})})]
        for i, (ctx, attrs) in enumerate(rejected):
            with self.subTest(ctx=ctx, attrs=list(attrs)):
                eid = f"urn:ngsi-ld:Probe:keyword-{i}"
                body = dict({"id": eid, "type": "Probe", "@context": [ctx, core]}, **attrs)
                r = self.timed("POST", E, json.dumps(body), content_type="application/ld+json")
                self.assertIn("not an IRI", self.assertProblem(r, 400)["detail"])
                self.assertEqual(self.hub.get(f"{E}/{eid}").status, 404)
        # Vocabulary-relative mappings ("value" -> @vocab + "value") are IRIs and accepted, but
        # reading them back must not let them collide with the keywords of the representation.
        accepted = [({"sp": "relative"}, {"sp": prop}),
                    ({"sp": "scope"}, {"sp": prop}), ({"sp": "value"}, {"speed": dict(speed, sp=prop)}),
                    ({"sp": "observedAt"}, {"speed": dict(speed, sp=prop)}),
                    ({"sp": "datasetId"}, {"speed": dict(speed, sp=prop)})]
        for i, (ctx, attrs) in enumerate(accepted):
            with self.subTest(ctx=ctx, attrs=list(attrs)):
                eid = f"urn:ngsi-ld:Probe:vocab-{i}"
                body = dict({"id": eid, "type": "Probe", "@context": [ctx, core]}, **attrs)
                r = self.timed("POST", E, json.dumps(body), content_type="application/ld+json")
                self.assertEqual(r.status, 201, r)
                for fmt in ["normalized", "concise", "keyValues"]:
                    got = self.hub.get(f"{E}/{eid}?options={fmt}").json()
                    self.assertEqual(got["id"], eid, got)
                    self.assertEqual(got["type"], "Probe", got)
                    self.assertNotIn("scope", got)
                    if "speed" in attrs:
                        sp = got["speed"]
                        self.assertEqual(sp if fmt == "keyValues" else sp["value"], 1, got)
                        if fmt == "normalized":
                            subs = [k for k in sp if k not in ("type", "value")]
                            self.assertEqual(len(subs), 1, got)
                            self.assertEqual(sp[subs[0]], prop, got)
        body = {"id": "urn:ngsi-ld:Probe:keyword-ok", "type": "Probe", "@context": [{"sp": "https://example.org/sp"}, core],
                "sp": prop}
        self.assertEqual(self.timed("POST", E, json.dumps(body), content_type="application/ld+json").status, 201)

    def test_attribute_type_must_be_known(self):
        body = {"id": "urn:ngsi-ld:Probe:attrtype", "type": "Probe", "speed": {"type": "string", "value": 1}}
        self.bad(400, ["speed", "string"], "POST", E, body)

    def test_huge_number_of_attributes(self):
        body = entity("urn:ngsi-ld:Probe:many", **{f"a{i}": i for i in range(5000)})
        self.bad(400, ["1000", "attributes"], "POST", E, body)
        body = entity("urn:ngsi-ld:Probe:thousand", **{f"a{i}": i for i in range(1000)})
        r = self.timed("POST", E, body)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(len(self.timed("GET", f"{E}/urn:ngsi-ld:Probe:thousand").json()), 1002)

    def test_too_many_attributes_through_updates(self):
        eid = "urn:ngsi-ld:Probe:grow"
        self.assertEqual(self.hub.post(E, entity(eid, **{f"a{i}": i for i in range(900)})).status, 201)
        more = {f"b{i}": {"type": "Property", "value": i} for i in range(200)}
        self.bad(400, ["1000", "attributes"], "POST", f"{E}/{eid}/attrs", more)
        self.bad(400, ["1000", "attributes"], "PATCH", f"{E}/{eid}", more)
        r = self.timed("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
                       [dict({"id": eid, "type": "Probe"}, **more)])
        self.assertNotIn(r.status, (201, 204), r)
        self.assertIn("1000", r.body)
        self.assertEqual(len(self.hub.get(f"{E}/{eid}").json()), 902)

    def test_duplicated_dataset_id(self):
        ds = "urn:ngsi-ld:Dataset:one"
        body = {"id": "urn:ngsi-ld:Probe:dup", "type": "Probe",
                "speed": [{"type": "Property", "value": 1, "datasetId": ds},
                          {"type": "Property", "value": 2, "datasetId": ds}]}
        self.bad(400, ["speed", "datasetId", ds], "POST", E, body)
        body["speed"] = [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]
        self.bad(400, ["speed", "datasetId"], "POST", E, body)
        body["speed"][1]["datasetId"] = "not a uri"
        self.bad(400, ["speed", "datasetId"], "POST", E, body)

    def test_invalid_observed_at(self):
        for when in ["yesterday", "2020-13-01T00:00:00Z", "2020-01-01T25:00:00Z", "2020-02-30T00:00:00Z",
                     "2020-01-01T00:00:00", "2020-01-01", 1577836800, None]:
            with self.subTest(observedAt=when):
                body = {"id": "urn:ngsi-ld:Probe:obs", "type": "Probe",
                        "speed": {"type": "Property", "value": 1, "observedAt": when}}
                self.bad(400, ["speed", "observedAt"], "POST", E, body)
        body = {"id": "urn:ngsi-ld:Probe:obs-ok", "type": "Probe",
                "speed": {"type": "Property", "value": 1, "observedAt": "2020-01-01T00:00:00.5+05:30"}}
        self.assertEqual(self.timed("POST", E, body).status, 201)


class TestGeometry(BadInputCase):
    def geo(self, geometry, name="location"):
        return {"id": "urn:ngsi-ld:Probe:geo", "type": "Probe", name: {"type": "GeoProperty", "value": geometry}}

    def test_unclosed_ring(self):
        g = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}
        self.bad(400, ["location", "closed"], "POST", E, self.geo(g))

    def test_latitude_out_of_range(self):
        self.bad(400, ["location", "latitude", "95"], "POST", E, self.geo({"type": "Point", "coordinates": [10, 95]}))
        self.bad(400, ["location", "longitude"], "POST", E, self.geo({"type": "Point", "coordinates": [190, 5]}))

    def test_other_invalid_geometries(self):
        for g in [{"type": "Point", "coordinates": [1]}, {"type": "Point", "coordinates": ["1", "2"]},
                  {"type": "Point"}, {"type": "Circle", "coordinates": [1, 2]},
                  {"type": "LineString", "coordinates": [[1, 2]]}, {"type": "Polygon", "coordinates": []},
                  "POINT(1 2)"]:
            with self.subTest(g=g):
                self.bad(400, ["location"], "POST", E, self.geo(g))

    def test_location_must_be_geo(self):
        body = {"id": "urn:ngsi-ld:Probe:geo", "type": "Probe", "location": {"type": "Property", "value": "here"}}
        self.bad(400, ["location", "GeoProperty"], "POST", E, body)

    def test_valid_polygon(self):
        g = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
        body = self.geo(g)
        body["id"] = "urn:ngsi-ld:Probe:geo-ok"
        self.assertEqual(self.timed("POST", E, body).status, 201)


class TestTenantsAndQueries(BadInputCase):
    def test_unknown_tenant(self):
        h = {"NGSILD-Tenant": "nosuchtenant"}
        p = self.bad(404, [], "GET", f"{E}/urn:ngsi-ld:Probe:x", headers=h)
        self.assertIn("nosuchtenant", p["detail"])
        self.bad(404, ["nosuchtenant"], "GET", f"{E}?type=Probe", headers=h)
        self.bad(404, ["nosuchtenant"], "PATCH", f"{E}/urn:ngsi-ld:Probe:x/attrs",
                 {"a": {"type": "Property", "value": 1}}, headers=h)

    def test_invalid_tenant_name(self):
        for t in ["../etc", "a b", "-lead", "x" * 65, "t\u00e9"]:
            with self.subTest(tenant=t):
                self.bad(400, ["NGSILD-Tenant"], "GET", f"{E}?type=Probe",
                         headers={"NGSILD-Tenant": t.encode("utf-8").decode("latin-1")})

    def test_pathological_id_pattern_is_linear(self):
        n, length = 60, 2000
        ids = []
        for i in range(n):
            tail = "a" * length + ("" if i % 2 else "!")
            ids.append(f"urn:ngsi-ld:Regex:{i}:{tail}")
        for eid in ids:
            r = self.hub.post(E, {"id": eid, "type": "Regex"})
            self.assertEqual(r.status, 201, r)
        # (a+)+$ backtracks exponentially on 'aaaa…!' in a backtracking engine.
        r = self.timed("GET", f"{E}?type=Regex&idPattern=(a%2B)%2B%24&limit=1000&count=true")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("NGSILD-Results-Count"), str(n // 2))
        self.assertEqual(sorted(e["id"] for e in r.json()), sorted(i for i in ids if i.endswith("a")))
        r = self.timed("GET", f"{E}?idPattern=(.*a){{20}}%24&limit=1")
        self.assertIn(r.status, (200, 400), r)

    def test_invalid_id_pattern(self):
        for pattern in ["(", "a[", "*a", "a{2,1}"]:
            with self.subTest(pattern=pattern):
                from urllib.parse import quote
                self.bad(400, ["idPattern"], "GET", f"{E}?type=Probe&idPattern={quote(pattern)}")


class TestHeaders(BadInputCase):
    def test_header_over_limit(self):
        r = self.timed("GET", f"{E}?type=Probe", headers={"X-Big": "a" * (20 << 10)})
        self.assertProblem(r, 431)
        self.assertIn("max_header_bytes", r.json()["detail"])

    def test_many_headers_over_limit(self):
        headers = {f"X-H{i}": "v" * 100 for i in range(300)}
        r = self.timed("GET", f"{E}?type=Probe", headers=headers)
        self.assertProblem(r, 431)

    def test_long_url_over_limit(self):
        r = self.timed("GET", f"{E}?type=" + "T" * (20 << 10))
        self.assertProblem(r, 431)

    def test_garbage_request_line(self):
        status, body, secs = raw_exchange(self.hub.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        self.assertIn(status, (400, None), body)
        self.assertLess(secs, BOUND)


    def test_ambiguous_framing_is_refused(self):
        # Request smuggling vectors and malformed framing: 400 (or 413), never a guess.
        body = b'{"id": "urn:ngsi-ld:Probe:smuggle", "type": "Probe"}'
        post = f"POST {E} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
        cases = {
            "CL and TE": post + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "two CLs": post + b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n" % len(body) + body,
            "negative CL": post + b"Content-Length: -1\r\n\r\n",
            "NUL in header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
            "HTTP/9.9": b"GET /health HTTP/9.9\r\n\r\n",
            "huge chunk size": post + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
        }
        for name, data in cases.items():
            with self.subTest(name):
                status, text, secs = raw_exchange(self.hub.port, data)
                self.assertIn(status, (400, 413), text)
                self.assertLess(secs, BOUND)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Probe:smuggle").status, 404)

    def test_bad_percent_encoding_in_path(self):
        for path in [f"{E}/urn%zz", f"{E}/urn%3Aa%3Ab%00", f"{E}/urn%"]:
            with self.subTest(path=path):
                self.assertProblem(self.timed("GET", path), 400)

    def test_concurrent_oversized_bodies_do_not_starve_others(self):
        big = json.dumps(entity("urn:ngsi-ld:Probe:flood", blob="x" * (2 << 20))).encode()
        errors = []

        def flood():
            for _ in range(5):
                try:
                    r = self.hub.post(E, big)
                    if r.status != 413:
                        errors.append(r.status)
                except OSError:
                    pass  # the server may close before reading the whole body
        threads = [threading.Thread(target=flood) for _ in range(8)]
        for t in threads:
            t.start()
        for i in range(20):
            r = self.timed("POST", E, entity(f"urn:ngsi-ld:Probe:amid-flood-{i}", n=i))
            self.assertEqual(r.status, 201, r)
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])


class TestSlowLoris(BadInputCase):
    hub_args = ("--request-timeout-ms", "1000")

    def loris(self, first, trickle, result):
        s = socket.create_connection(("127.0.0.1", self.hub.port), timeout=10)
        start = time.monotonic()
        try:
            s.sendall(first)
            s.settimeout(0.1)
            buf = b""
            for i in range(100):  # up to 10 s of trickling, one byte every 100 ms
                try:
                    s.send(trickle[i % len(trickle):i % len(trickle) + 1])
                except OSError:
                    break
                try:
                    c = s.recv(4096)
                    if not c:
                        break
                    buf += c
                    if _complete(buf):
                        break
                except socket.timeout:
                    pass
                except OSError:
                    break
            result["status"] = _status_of(buf)[0] if buf else None
            result["body"] = buf
        finally:
            result["secs"] = time.monotonic() - start
            s.close()

    def run_loris(self, first, trickle):
        result = {}
        t = threading.Thread(target=self.loris, args=(first, trickle, result))
        t.start()
        # Meanwhile other clients are served normally.
        served = 0
        while t.is_alive() and served < 50:
            start = time.monotonic()
            r = self.hub.get("/health")
            self.assertEqual(r.status, 200)
            self.assertLess(time.monotonic() - start, 0.5)
            served += 1
            time.sleep(0.05)
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertGreater(served, 5)
        # Cut off after the 1 s request timeout (plus slack), with a 408 or a close.
        self.assertLess(result["secs"], 1.0 + BOUND, result)
        self.assertGreater(result["secs"], 0.8, result)
        self.assertIn(result["status"], (408, None), result)
        return result

    def test_trickled_headers(self):
        res = self.run_loris(b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: abcdefghij\r\n")
        self.assertEqual(res["status"], 408, res)

    def test_trickled_body(self):
        head = (f"POST {E} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 500\r\n\r\n").encode()
        res = self.run_loris(head, b" ")
        self.assertEqual(res["status"], 408, res)

    def test_many_lorises_do_not_starve_others(self):
        socks = []
        try:
            for _ in range(200):
                s = socket.create_connection(("127.0.0.1", self.hub.port), timeout=5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            start = time.monotonic()
            r = self.hub.get("/health")
            self.assertEqual(r.status, 200)
            self.assertLess(time.monotonic() - start, 0.5)
            time.sleep(1.5)
            closed = 0
            for s in socks:
                s.settimeout(1)
                try:
                    data = s.recv(4096)
                    closed += data == b"" or data.startswith(b"HTTP/1.1 408")
                except OSError:
                    closed += 1
            self.assertEqual(closed, len(socks))
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    unittest.main()
