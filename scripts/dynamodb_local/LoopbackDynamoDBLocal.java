// DynamoDB Local on 127.0.0.1 only: its own command line listens on every interface and has no
// host flag, so this launcher builds the same handlers and serves them from one Jetty connector
// bound to loopback.
//
//   LoopbackDynamoDBLocal <port> <db-dir | :memory:> [--count-requests]
//
// With --count-requests, `GET /_counts` answers {"Query": 12, ...} (requests served, by
// operation) and `POST /_counts/reset` zeroes them: the benchmarks count DynamoDB requests here.
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;
import software.amazon.dynamodb.services.local.server.LocalDynamoDBRequestHandler;
import software.amazon.dynamodb.services.local.server.LocalDynamoDBServerHandler;

public final class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3 || (args.length == 3 && !args[2].equals("--count-requests"))) {
            System.err.println("usage: LoopbackDynamoDBLocal <port> <db-dir | :memory:> [--count-requests]");
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
        Handler served = proxy.setUpHandler(handler);
        if (args.length == 3) {
            served = new Counting(served);
        }

        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(served);
        server.setStopAtShutdown(true);
        server.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1:" + connector.getLocalPort());
        server.join();
    }

    /** Counts requests by X-Amz-Target operation; serves the counts at /_counts. */
    static final class Counting extends Handler.Wrapper {
        private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

        Counting(Handler handler) {
            super(handler);
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            String path = request.getHttpURI().getPath();
            if (path != null && path.startsWith("/_counts")) {
                if (path.equals("/_counts/reset")) {
                    counts.clear();
                }
                StringBuilder body = new StringBuilder("{");
                for (Map.Entry<String, LongAdder> entry : counts.entrySet()) {
                    if (body.length() > 1) {
                        body.append(", ");
                    }
                    body.append('"').append(entry.getKey()).append("\": ").append(entry.getValue().sum());
                }
                body.append('}');
                response.setStatus(200);
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                response.write(true, ByteBuffer.wrap(body.toString().getBytes(StandardCharsets.UTF_8)), callback);
                return true;
            }
            String target = request.getHeaders().get("X-Amz-Target");
            if (target != null) {
                String operation = target.substring(target.indexOf('.') + 1).replace("\"", "");
                counts.computeIfAbsent(operation, key -> new LongAdder()).increment();
            }
            return super.handle(request, response, callback);
        }
    }
}
