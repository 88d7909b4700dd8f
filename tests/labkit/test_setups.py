"""Lesson set-ups without a cluster: the restore registry is the dev one under another name."""

from __future__ import annotations

from labkit.setups import restore_registry


def test_the_restore_registry_has_its_own_name_labels_and_no_election() -> None:
    service, statefulset = restore_registry("reg-restore")
    labels = {"app.kubernetes.io/name": "reg-restore"}
    assert service["metadata"]["name"] == "reg-restore"
    assert service["spec"]["selector"] == labels
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == "reg-restore"
    assert statefulset["spec"]["selector"] == {"matchLabels": labels}
    assert statefulset["spec"]["template"]["metadata"]["labels"] == labels
    env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "ENABLE_LEADER_ELECTION", "value": "false"} in env
    claims = statefulset["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["data"]  # its pod's claim: data-reg-restore-0


def test_each_call_is_a_fresh_copy() -> None:
    first = restore_registry()
    first[1]["spec"]["template"]["spec"]["containers"][0]["env"].clear()
    assert restore_registry()[1]["spec"]["template"]["spec"]["containers"][0]["env"]
