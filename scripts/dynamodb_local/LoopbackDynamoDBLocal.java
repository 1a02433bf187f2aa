// DynamoDB Local on 127.0.0.1 only: its own command line listens on every interface and has no
// host flag, so this launcher builds the same handlers and serves them from one Jetty connector
// bound to loopback. Usage: LoopbackDynamoDBLocal <port> <db-dir | :memory:>
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;
import software.amazon.dynamodb.services.local.server.LocalDynamoDBRequestHandler;
import software.amazon.dynamodb.services.local.server.LocalDynamoDBServerHandler;

public final class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: LoopbackDynamoDBLocal <port> <db-dir | :memory:>");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        boolean inMemory = args[1].equals(":memory:");
        // sharedDb: one SQLite file whatever the credentials and region of a client.
        LocalDynamoDBRequestHandler requests = new LocalDynamoDBRequestHandler(
            port, inMemory, inMemory ? null : args[1], true, false);
        LocalDynamoDBServerHandler handler = new LocalDynamoDBServerHandler(requests, null);
        // Only for its handler tree; its own server (all interfaces) is never started.
        DynamoDBProxyServer proxy = new DynamoDBProxyServer(port, handler);

        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(proxy.setUpHandler(handler));
        server.setStopAtShutdown(true);
        server.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1:" + connector.getLocalPort());
        server.join();
    }
}
