//! The deployment files parse and say what operators rely on: probes, resources, the edge's
//! disruption budget and autoscaler, services listening beyond loopback, health checks, a
//! TURN server that takes only the credentials calls-svc mints and relays to no private
//! address, and a NATS JetStream cluster of three that the services' event bus runs on.

use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

fn all_manifests() -> Vec<(String, Value)> {
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(deploy_dir().join("k8s")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let name = format!("k8s/{}", path.file_name().unwrap().to_string_lossy());
            for document in documents(&name) {
                manifests.push((name.clone(), document));
            }
        }
    }
    manifests
}

/// Parley's own workloads: its Deployments, and the StatefulSet of presence-svc (whose
/// replicas each need a name of their own); NATS's StatefulSet is not one.
fn workloads(manifests: &[(String, Value)]) -> Vec<&Value> {
    let mut workloads = of_kind(manifests, "Deployment");
    workloads.extend(
        of_kind(manifests, "StatefulSet")
            .into_iter()
            .filter(|set| set["metadata"]["name"] != "nats"),
    );
    workloads
}

fn of_kind<'a>(manifests: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    manifests
        .iter()
        .filter(|(_, doc)| doc["kind"].as_str() == Some(kind))
        .map(|(_, doc)| doc)
        .collect()
}

#[test]
fn every_deployment_has_probes_resources_and_a_service() {
    let manifests = all_manifests();
    let deployments = workloads(&manifests);
    let names: Vec<&str> = deployments
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    for expected in [
        "edge",
        "friends-svc",
        "presence-svc",
        "chat-svc",
        "media-svc",
        "calls-svc",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let services = of_kind(&manifests, "Service");
    for deployment in deployments {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        for probe in ["readinessProbe", "livenessProbe"] {
            let probe = &container[probe];
            assert!(
                probe["grpc"].is_mapping() || probe["httpGet"].is_mapping(),
                "{name}: {probe:?}"
            );
        }
        assert!(
            container["resources"]["requests"]["cpu"].is_string(),
            "{name}"
        );
        assert!(
            container["resources"]["requests"]["memory"].is_string(),
            "{name}"
        );
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert!(
            services.iter().any(|s| s["spec"]["selector"]
                .as_mapping()
                .unwrap()
                .iter()
                .all(|(k, v)| &labels[k.as_str().unwrap()] == v)),
            "{name} has no Service"
        );
        // Inside a cluster the default loopback addresses would reach nobody.
        let env = container["env"].as_sequence().unwrap();
        let listen = env.iter().find(|e| {
            e["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("_ADDR") && !n.contains("METRICS"))
        });
        assert!(
            listen.is_some_and(|e| e["value"].as_str().unwrap().starts_with("0.0.0.0:")),
            "{name}: {listen:?}"
        );
    }
}

#[test]
fn the_edge_scales_and_keeps_a_replica_through_disruptions() {
    let manifests = all_manifests();
    let budgets = of_kind(&manifests, "PodDisruptionBudget");
    assert!(
        budgets.iter().any(
            |budget| budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "edge"
        ),
        "{budgets:?}"
    );
    let autoscaler = of_kind(&manifests, "HorizontalPodAutoscaler");
    assert_eq!(autoscaler[0]["spec"]["scaleTargetRef"]["name"], "edge");
    assert!(autoscaler[0]["spec"]["minReplicas"].as_u64().unwrap() >= 2);
}

#[test]
fn compose_runs_everything_with_health_checks_and_jaeger() {
    let compose = documents("docker-compose.yml").remove(0);
    let services = compose["services"].as_mapping().unwrap();
    for name in [
        "postgres",
        "jaeger",
        "friends-svc",
        "presence-svc",
        "chat-svc",
        "media-svc",
        "calls-svc",
        "coturn",
        "edge",
    ] {
        assert!(services.contains_key(name), "{name}");
    }
    for name in [
        "postgres",
        "friends-svc",
        "presence-svc",
        "chat-svc",
        "media-svc",
        "calls-svc",
        "edge",
    ] {
        assert!(
            compose["services"][name]["healthcheck"]["test"].is_sequence(),
            "{name}"
        );
    }
    let jaeger_ports: Vec<&str> = compose["services"]["jaeger"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(jaeger_ports.contains(&"4317:4317") && jaeger_ports.contains(&"16686:16686"));
}

#[test]
fn the_edge_behind_the_ingress_believes_its_forwarded_addresses() {
    let manifests = all_manifests();
    let edge = of_kind(&manifests, "Deployment")
        .into_iter()
        .find(|deployment| deployment["metadata"]["name"] == "edge")
        .unwrap();
    let env = edge["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap();
    let proxies = env
        .iter()
        .find(|variable| variable["name"] == "PARLEY_TRUSTED_PROXIES")
        .expect("the k8s edge sets PARLEY_TRUSTED_PROXIES");
    assert!(
        proxies["value"]
            .as_str()
            .is_some_and(|value| !value.is_empty())
    );
}

#[test]
fn compose_has_no_default_secrets() {
    let text = std::fs::read_to_string(deploy_dir().join("docker-compose.yml")).unwrap();
    for secret in [
        "PARLEY_JWT_SECRET",
        "PARLEY_SERVICE_TOKEN",
        "PARLEY_MEDIA_URL_KEYS",
        "PARLEY_TURN_SECRET",
    ] {
        let mut lines = text
            .lines()
            .filter(|line| line.trim_start().starts_with(&format!("{secret}:")))
            .peekable();
        assert!(lines.peek().is_some(), "compose sets {secret}");
        for line in lines {
            // `${VAR:?message}` refuses to start without it; `${VAR:-default}` would fall back.
            assert!(line.contains(&format!("${{{secret}:?")), "{line}");
        }
    }
}

/// Services on `0.0.0.0` refuse to start without a service token (unless told otherwise):
/// every deployment that listens there must set one, and none may waive it.
#[test]
fn every_service_listening_beyond_loopback_has_a_service_token() {
    let services = [
        ("friends-svc", "PARLEY_FRIENDS_ADDR"),
        ("presence-svc", "PARLEY_PRESENCE_ADDR"),
        ("chat-svc", "PARLEY_CHAT_ADDR"),
        ("media-svc", "PARLEY_MEDIA_ADDR"),
        ("calls-svc", "PARLEY_CALLS_ADDR"),
    ];
    let mut compose = documents("docker-compose.yml").remove(0);
    compose.apply_merge().unwrap();
    for (name, addr) in services {
        let mut environment = compose["services"][name]["environment"].clone();
        environment.apply_merge().unwrap();
        assert!(
            environment[addr]
                .as_str()
                .is_some_and(|listen| listen.starts_with("0.0.0.0:")),
            "compose {name}: {environment:?}"
        );
        assert!(
            environment["PARLEY_SERVICE_TOKEN"].is_string(),
            "compose {name} has no service token"
        );
        assert!(environment["PARLEY_ALLOW_UNAUTHENTICATED_GRPC"].is_null());
    }
    let manifests = all_manifests();
    for deployment in workloads(&manifests) {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        let Some((_, addr)) = services.iter().find(|(service, _)| *service == name) else {
            continue;
        };
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap();
        let named = |wanted: &str| env.iter().find(|var| var["name"].as_str() == Some(wanted));
        assert!(
            named(addr).is_some_and(|var| var["value"]
                .as_str()
                .is_some_and(|listen| listen.starts_with("0.0.0.0:"))),
            "k8s {name}"
        );
        assert!(
            named("PARLEY_SERVICE_TOKEN").is_some(),
            "k8s {name} has no service token"
        );
        assert!(named("PARLEY_ALLOW_UNAUTHENTICATED_GRPC").is_none());
    }
}

/// The `key value` (or bare `key`) settings of a coturn configuration, comments left out.
fn coturn_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.split_once('=') {
            Some((key, value)) => (key.trim().to_owned(), value.trim().to_owned()),
            None => (line.to_owned(), String::new()),
        })
        .collect()
}

#[test]
fn coturn_takes_only_minted_credentials_and_relays_to_no_private_address() {
    let text = std::fs::read_to_string(deploy_dir().join("coturn.conf")).unwrap();
    let settings = coturn_settings(&text);
    let has = |key: &str| settings.iter().any(|(k, _)| k == key);
    let value = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("coturn.conf sets {key}"))
    };
    for flag in [
        "use-auth-secret",
        "fingerprint",
        "no-cli",
        "no-tcp-relay",
        "no-multicast-peers",
    ] {
        assert!(has(flag), "coturn.conf: {flag}");
    }
    // The secret comes from the environment at start, never from the file.
    assert!(!has("static-auth-secret"), "a secret in coturn.conf");
    assert!(!has("allow-loopback-peers") && !has("allowed-peer-ip"));
    assert!(!value("realm").is_empty());
    for quota in ["user-quota", "total-quota", "max-bps"] {
        assert!(value(quota).parse::<u64>().unwrap() > 0, "{quota}");
    }
    let (min, max) = (
        value("min-port").parse::<u16>().unwrap(),
        value("max-port").parse::<u16>().unwrap(),
    );
    assert!(min >= 49152 && min < max, "{min}-{max}");

    let denied: Vec<&str> = settings
        .iter()
        .filter(|(key, _)| key == "denied-peer-ip")
        .map(|(_, range)| range.as_str())
        .collect();
    for private in [
        "0.0.0.0-0.255.255.255",
        "10.0.0.0-10.255.255.255",
        "100.64.0.0-100.127.255.255",
        "127.0.0.0-127.255.255.255",
        "169.254.0.0-169.254.255.255",
        "172.16.0.0-172.31.255.255",
        "192.168.0.0-192.168.255.255",
        "::1",
        "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        assert!(denied.contains(&private), "coturn.conf denies {private}");
    }
}

#[test]
fn coturn_and_calls_svc_share_one_turn_secret_in_compose_and_k8s() {
    let mut compose = documents("docker-compose.yml").remove(0);
    compose.apply_merge().unwrap();
    let coturn = &compose["services"]["coturn"];
    assert!(
        coturn["image"]
            .as_str()
            .is_some_and(|image| image.starts_with("coturn/coturn:"))
    );
    assert_eq!(coturn["network_mode"], "host", "the relay range");
    let started = serde_yaml::to_string(&coturn["command"]).unwrap();
    assert!(
        started.contains("--static-auth-secret=\"$$PARLEY_TURN_SECRET\""),
        "{started}"
    );
    assert!(
        coturn["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|volume| volume
                .as_str()
                .is_some_and(|v| v.starts_with("./coturn.conf:")))
    );
    let mut calls = compose["services"]["calls-svc"]["environment"].clone();
    calls.apply_merge().unwrap();
    assert_eq!(
        calls["PARLEY_TURN_SECRET"], coturn["environment"]["PARLEY_TURN_SECRET"],
        "one secret"
    );
    assert!(
        calls["PARLEY_TURN_URLS"]
            .as_str()
            .unwrap()
            .contains("turn:")
    );
    let mut edge = compose["services"]["edge"]["environment"].clone();
    edge.apply_merge().unwrap();
    assert_eq!(edge["PARLEY_CALLS_URL"], "http://calls-svc:50055");

    let manifests = all_manifests();
    let turn = of_kind(&manifests, "DaemonSet")
        .into_iter()
        .find(|set| set["metadata"]["name"] == "coturn")
        .expect("k8s/coturn.yaml runs coturn");
    let pod = &turn["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true, "the relay range");
    let container = &pod["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        assert!(container[probe]["tcpSocket"].is_mapping(), "{probe}");
    }
    assert!(container["resources"]["requests"]["cpu"].is_string());
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&"--static-auth-secret=$(PARLEY_TURN_SECRET)"),
        "{args:?}"
    );
    let secret_of = |container: &Value| {
        container["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|var| var["name"] == "PARLEY_TURN_SECRET")
            .map(|var| var["valueFrom"]["secretKeyRef"].clone())
    };
    let calls = of_kind(&manifests, "Deployment")
        .into_iter()
        .find(|deployment| deployment["metadata"]["name"] == "calls-svc")
        .unwrap();
    let calls_container = &calls["spec"]["template"]["spec"]["containers"][0];
    assert!(secret_of(container).is_some_and(|secret| secret["name"] == "parley-secrets"));
    assert_eq!(
        secret_of(container),
        secret_of(calls_container),
        "one secret"
    );
    assert_eq!(calls["spec"]["replicas"], 2);
}

/// The services whose events cross the NATS bus; media-svc and the edge take no bus settings.
const BUS_SERVICES: [&str; 4] = ["friends-svc", "presence-svc", "chat-svc", "calls-svc"];
const NOT_ON_THE_BUS: [&str; 2] = ["media-svc", "edge"];
const BUS_SETTINGS: [&str; 3] = ["PARLEY_BUS", "PARLEY_NATS_URL", "PARLEY_NATS_REPLICAS"];

/// `nats:MAJOR.MINOR…` of 2.10 or newer: 2.9 silently ignores consumers with several
/// filter subjects (docs/decisions/0016-scale-out-on-nats.md).
fn is_nats_2_10_or_newer(image: &str) -> bool {
    let Some(tag) = image.strip_prefix("nats:") else {
        return false;
    };
    let mut numbers = tag
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (2, 10),
        _ => false,
    }
}

/// The value of `--name=value` among a server's arguments.
fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|arg| arg.strip_prefix(name)?.strip_prefix('='))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("not a list: {value:?}"))
        .iter()
        .map(|item| item.as_str().unwrap())
        .collect()
}

/// A JetStream node of the cluster `parley`, storing in `store`, with routes to the `peers`
/// and nowhere else; its `own` route may be left out (the server skips a route to itself).
fn assert_a_clustered_jetstream_node(
    who: &str,
    args: &[&str],
    store: &str,
    peers: &[String],
    own: Option<&str>,
) {
    assert!(args.contains(&"--jetstream"), "{who}: {args:?}");
    assert_eq!(flag(args, "--store_dir"), Some(store), "{who}");
    assert_eq!(flag(args, "--cluster_name"), Some("parley"), "{who}");
    assert!(flag(args, "--cluster").is_some(), "{who}");
    let routes: Vec<&str> = flag(args, "--routes")
        .unwrap_or_else(|| panic!("{who} has no routes"))
        .split(',')
        .collect();
    for peer in peers {
        assert!(
            routes.contains(&peer.as_str()) || own == Some(peer.as_str()),
            "{who} has no route to {peer}: {routes:?}"
        );
    }
    assert!(
        routes
            .iter()
            .all(|route| peers.iter().any(|peer| peer == route)),
        "{who} routes beyond the cluster: {routes:?}"
    );
}

#[test]
fn compose_runs_three_nats_nodes_that_the_services_wait_for() {
    let mut compose = documents("docker-compose.yml").remove(0);
    compose.apply_merge().unwrap();
    let nodes = ["nats-1", "nats-2", "nats-3"];
    let peers: Vec<String> = nodes.iter().map(|n| format!("nats://{n}:6222")).collect();
    let mut volumes = Vec::new();
    for name in nodes {
        let node = &compose["services"][name];
        let image = node["image"].as_str().unwrap();
        assert!(is_nats_2_10_or_newer(image), "{name}: {image}");
        let command = strings(&node["command"]);
        assert_eq!(flag(&command, "--name"), Some(name));
        let own = format!("nats://{name}:6222");
        assert_a_clustered_jetstream_node(name, &command, "/data", &peers, Some(&own));
        let volume = strings(&node["volumes"])
            .into_iter()
            .find_map(|volume| volume.strip_suffix(":/data"))
            .unwrap_or_else(|| panic!("{name} keeps /data on no volume"));
        assert!(
            compose["volumes"]
                .as_mapping()
                .unwrap()
                .contains_key(volume),
            "{name}: {volume} is a named volume"
        );
        volumes.push(volume);
        assert!(node["healthcheck"]["test"].is_sequence(), "{name}");
    }
    volumes.sort();
    volumes.dedup();
    assert_eq!(volumes.len(), 3, "a volume each: {volumes:?}");

    let urls: Vec<String> = nodes.iter().map(|n| format!("nats://{n}:4222")).collect();
    for name in BUS_SERVICES {
        let service = &compose["services"][name];
        let environment = &service["environment"];
        // Production-like: NATS unless PARLEY_BUS says otherwise.
        assert_eq!(environment["PARLEY_BUS"], "${PARLEY_BUS:-nats}", "{name}");
        let mut given: Vec<&str> = environment["PARLEY_NATS_URL"]
            .as_str()
            .unwrap()
            .split(',')
            .collect();
        given.sort();
        assert_eq!(given, urls, "{name}");
        assert_eq!(environment["PARLEY_NATS_REPLICAS"], "3", "{name}");
        for node in nodes {
            assert_eq!(
                service["depends_on"][node]["condition"], "service_healthy",
                "{name} waits for {node}"
            );
        }
    }
    for name in NOT_ON_THE_BUS {
        let environment = &compose["services"][name]["environment"];
        for setting in BUS_SETTINGS {
            assert!(
                environment[setting].is_null(),
                "compose {name} sets {setting}"
            );
        }
    }
}

#[test]
fn k8s_runs_a_nats_statefulset_of_three_that_the_services_use() {
    let manifests = all_manifests();
    let nats = of_kind(&manifests, "StatefulSet")
        .into_iter()
        .find(|set| set["metadata"]["name"] == "nats")
        .expect("k8s/nats.yaml runs NATS");
    let spec = &nats["spec"];
    assert_eq!(spec["replicas"], 3);
    // In order, the first node would wait for a quorum that the others cannot yet form.
    assert_eq!(spec["podManagementPolicy"], "Parallel");
    let labels = &spec["template"]["metadata"]["labels"];
    let selects_nats = |service: &Value| {
        service["spec"]["selector"]
            .as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k.as_str().unwrap()] == v)
    };
    let services = of_kind(&manifests, "Service");
    let cluster_name = spec["serviceName"].as_str().unwrap();
    let headless = services
        .iter()
        .find(|service| service["metadata"]["name"] == cluster_name)
        .expect("the StatefulSet's headless Service");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert!(selects_nats(headless));
    let client = services
        .iter()
        .find(|service| {
            service["metadata"]["name"] != cluster_name
                && selects_nats(service)
                && service["spec"]["ports"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|port| port["port"] == 4222)
        })
        .expect("a client Service for NATS");
    let client_url = format!(
        "nats://{}:4222",
        client["metadata"]["name"].as_str().unwrap()
    );

    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    let image = container["image"].as_str().unwrap();
    assert!(is_nats_2_10_or_newer(image), "{image}");
    let args = strings(&container["args"]);
    let peers: Vec<String> = (0..3)
        .map(|k| format!("nats://nats-{k}.{cluster_name}:6222"))
        .collect();
    let store = flag(&args, "--store_dir").unwrap();
    assert_a_clustered_jetstream_node("k8s nats", &args, store, &peers, None);
    let mount = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|mount| mount["mountPath"] == store)
        .expect("the store on a volume");
    assert!(
        spec["volumeClaimTemplates"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|claim| claim["metadata"]["name"] == mount["name"]),
        "the store on a claim of each node's own"
    );
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert!(container[probe]["httpGet"].is_mapping(), "{probe}");
    }
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(
        of_kind(&manifests, "PodDisruptionBudget")
            .iter()
            .any(
                |budget| budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
                    == "nats"
                    && budget["spec"]["maxUnavailable"] == 1
            ),
        "a drain takes one node of three at a time"
    );

    for deployment in workloads(&manifests) {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap();
        let value = |wanted: &str| {
            env.iter()
                .find(|var| var["name"] == wanted)
                .map(|var| var["value"].as_str().unwrap())
        };
        if BUS_SERVICES.contains(&name) {
            assert_eq!(value("PARLEY_BUS"), Some("nats"), "k8s {name}");
            assert_eq!(
                value("PARLEY_NATS_URL"),
                Some(client_url.as_str()),
                "k8s {name}"
            );
            assert_eq!(value("PARLEY_NATS_REPLICAS"), Some("3"), "k8s {name}");
        } else if NOT_ON_THE_BUS.contains(&name) {
            for setting in BUS_SETTINGS {
                assert_eq!(value(setting), None, "k8s {name} sets {setting}");
            }
        }
    }
}

/// presence-svc's replicas each hold their own users: the edge must reach each one by a name
/// of its own, and each must go by that name in the shard leases.
#[test]
fn the_edge_lists_every_presence_replica_by_its_own_name() {
    let manifests = all_manifests();
    let presence = of_kind(&manifests, "StatefulSet")
        .into_iter()
        .find(|set| set["metadata"]["name"] == "presence-svc")
        .expect("presence-svc is a StatefulSet");
    let replicas = presence["spec"]["replicas"].as_u64().unwrap();
    assert!(replicas >= 2, "{replicas}");
    let headless = of_kind(&manifests, "Service")
        .into_iter()
        .find(|service| service["metadata"]["name"] == presence["spec"]["serviceName"])
        .expect("the StatefulSet's Service");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    let env_of = |workload: &Value, wanted: &str| {
        workload["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|var| var["name"] == wanted)
            .and_then(|var| var["value"].as_str().map(str::to_owned))
    };
    assert_eq!(
        env_of(presence, "PARLEY_PRESENCE_ADVERTISE_URL").as_deref(),
        Some("http://$(POD_NAME).presence-svc:50052")
    );
    let edge = of_kind(&manifests, "Deployment")
        .into_iter()
        .find(|deployment| deployment["metadata"]["name"] == "edge")
        .unwrap();
    let listed = env_of(edge, "PARLEY_PRESENCE_URL").unwrap();
    let expected: Vec<String> = (0..replicas)
        .map(|index| format!("http://presence-svc-{index}.presence-svc:50052"))
        .collect();
    assert_eq!(listed, expected.join(","));
}
