"""NGSILD-Tenant (GS CIM 009 §4.14, §6.3.14) over real HTTP: a tenant is created implicitly by
its first create, tenants are isolated, any other operation in an unknown tenant is 404
NonexistentTenant (§5.5.2: "The addressed tenant does not exist"), and invalid tenant names are
rejected with 400 before anything touches the disk."""
import os
import unittest

from hub import STORE, HubTestCase

E = "/ngsi-ld/v1/entities"


def tenant(name):
    return {"NGSILD-Tenant": name}


def ent(eid, v=1):
    return {"id": eid, "type": "Lamp", "level": {"type": "Property", "value": v}}


class TenantsTest(HubTestCase):
    def test_batch_without_a_valid_item_creates_no_tenant(self):
        h = tenant("junkOnly")
        r = self.hub.post("/ngsi-ld/v1/entityOperations/create", [{"x": 1}], headers=h)
        self.assertEqual(r.status, 207, r)
        self.assertEqual(r.json()["success"], [])
        self.assertProblem(self.hub.get(f"{E}?type=Lamp", headers=h), 404, "NonexistentTenant")
        self.assertFalse(os.path.exists(os.path.join(self.hub.data_dir, "tenants", "junkOnly")))

    def test_created_implicitly_by_first_create(self):
        h = tenant("cityA")
        self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:1", headers=h), 404, "NonexistentTenant")
        r = self.hub.post(E, ent("urn:ngsi-ld:Lamp:1", 7), headers=h)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("NGSILD-Tenant"), "cityA")
        r = self.hub.get(f"{E}/urn:ngsi-ld:Lamp:1", headers=h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["level"]["value"], 7)
        self.assertEqual([e["id"] for e in self.hub.get(f"{E}?type=Lamp", headers=h).json()], ["urn:ngsi-ld:Lamp:1"])

    def test_isolation(self):
        a, b = tenant("isoA"), tenant("isoB")
        self.assertEqual(self.hub.post(E, ent("urn:ngsi-ld:Lamp:shared", 1), headers=a).status, 201)
        self.assertEqual(self.hub.post(E, ent("urn:ngsi-ld:Lamp:shared", 2), headers=b).status, 201)
        self.assertEqual(self.hub.post(E, ent("urn:ngsi-ld:Lamp:onlyA"), headers=a).status, 201)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:shared", headers=a).json()["level"]["value"], 1)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:shared", headers=b).json()["level"]["value"], 2)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:onlyA", headers=b).status, 404)
        # the default tenant sees none of them
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:shared").status, 404)
        self.assertEqual(sorted(e["id"] for e in self.hub.get(f"{E}?type=Lamp", headers=b).json()),
                         ["urn:ngsi-ld:Lamp:shared"])
        # writes stay in their tenant
        self.assertEqual(self.hub.delete(f"{E}/urn:ngsi-ld:Lamp:shared", headers=b).status, 204)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:shared", headers=a).status, 200)
        self.assertEqual(self.hub.patch(f"{E}/urn:ngsi-ld:Lamp:onlyA/attrs",
                                        {"level": {"type": "Property", "value": 3}}, headers=b).status, 404)
        # discovery is per tenant
        self.assertEqual(self.hub.get("/ngsi-ld/v1/types", headers=a).json()["typeList"], ["Lamp"])

    def test_unknown_tenant_reads_and_writes_404(self):
        h = tenant("nowhere")
        for r in (self.hub.get(f"{E}/urn:ngsi-ld:Lamp:1", headers=h),
                  self.hub.get(f"{E}?type=Lamp", headers=h),
                  self.hub.get("/ngsi-ld/v1/types", headers=h),
                  self.hub.get("/ngsi-ld/v1/attributes", headers=h),
                  self.hub.delete(f"{E}/urn:ngsi-ld:Lamp:1", headers=h),
                  self.hub.patch(f"{E}/urn:ngsi-ld:Lamp:1", {"level": 1}, headers=h),
                  self.hub.put(f"{E}/urn:ngsi-ld:Lamp:1", {"type": "Lamp"}, headers=h),
                  self.hub.post(f"{E}/urn:ngsi-ld:Lamp:1/attrs", {"level": 1}, headers=h)):
            with self.subTest(r=r):
                self.assertProblem(r, 404, "NonexistentTenant")
        # none of these created the tenant
        self.assertEqual(self.hub.get(f"{E}?type=Lamp", headers=h).status, 404)
        self.assertFalse(any("nowhere" in names for _, names, _ in os.walk(self.hub.data_dir)))

    def test_batch_create_and_upsert_create_the_tenant(self):
        # update does not create: the whole request addresses a tenant that does not exist
        r = self.hub.post("/ngsi-ld/v1/entityOperations/update", [ent("urn:ngsi-ld:Lamp:b1")], headers=tenant("batchT"))
        self.assertProblem(r, 404, "NonexistentTenant")
        r = self.hub.post("/ngsi-ld/v1/entityOperations/upsert", [ent("urn:ngsi-ld:Lamp:b1")], headers=tenant("batchT"))
        self.assertEqual(r.status, 201, r)
        r = self.hub.post("/ngsi-ld/v1/entityOperations/create", [ent("urn:ngsi-ld:Lamp:b2")], headers=tenant("batchU"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:b1", headers=tenant("batchT")).status, 200)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:b2", headers=tenant("batchU")).status, 200)
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:b2", headers=tenant("batchT")).status, 404)

    def test_invalid_names_400(self):
        for name in ("../x", "a/b", "..", "-lead", "x" * 65, "sp ace", "dot.ted", "é"):
            with self.subTest(name):
                r = self.hub.post(E, ent("urn:ngsi-ld:Lamp:bad"), headers={"NGSILD-Tenant": name.encode("utf-8").decode("latin-1")})
                self.assertProblem(r, 400, "BadRequestData")
                self.assertProblem(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:bad",
                                                headers={"NGSILD-Tenant": name.encode("utf-8").decode("latin-1")}), 400)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.hub.data_dir), "x")))
        self.assertEqual(self.hub.get(f"{E}/urn:ngsi-ld:Lamp:bad").status, 404)

    @unittest.skipIf(STORE == "postgres", "on PostgreSQL a tenant is a schema, not a directory (store_contract_test covers tenants on both)")
    def test_tenant_directory_created(self):
        self.assertEqual(self.hub.post(E, ent("urn:ngsi-ld:Lamp:d"), headers=tenant("dirT")).status, 201)
        self.assertTrue(any("dirT" in names for _, names, _ in os.walk(self.hub.data_dir)))

    def test_valid_names(self):
        for name in ("a", "City_1", "x" * 64, "A-b"):
            with self.subTest(name):
                r = self.hub.post(E, ent("urn:ngsi-ld:Lamp:v"), headers=tenant(name))
                self.assertEqual(r.status, 201, r)

    def test_tenants_survive_restart(self):
        # covered in test_ops for the default tenant; here a named one
        from hub import Hub
        with Hub() as h:
            self.assertEqual(h.post(E, ent("urn:ngsi-ld:Lamp:r"), headers=tenant("persist")).status, 201)
            self.assertEqual(h.stop(), 0)
            h.start()
            r = h.get(f"{E}/urn:ngsi-ld:Lamp:r", headers=tenant("persist"))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(h.get(f"{E}/urn:ngsi-ld:Lamp:r").status, 404)


if __name__ == "__main__":
    unittest.main()
