// interp-java: the protocol by hand (docs/PROTOCOL.md), run from source
// (java Main.java). The JDK has no JSON parser; the host writes its
// messages in a fixed member order (docs/PROTOCOL.md, Framing), so the id,
// the method and the call's input (the last member of its params) are
// found by position.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Main {
    private static final Pattern ID = Pattern.compile("\"id\":(\\d+)");
    private static final Pattern METHOD = Pattern.compile("\"method\":\"([^\"]*)\"");

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Matcher id = ID.matcher(line);
            Matcher method = METHOD.matcher(line);
            if (!id.find() || !method.find()) {
                continue;
            }
            String head = "{\"jsonrpc\":\"2.0\",\"id\":" + id.group(1) + ",\"result\":";
            switch (method.group(1)) {
                case "initialize":
                    out.print(head + "{\"protocol\":1,\"name\":\"interp-java\",\"version\":\"0.1.0\",\"hooks\":[\"greet\"]}}\n");
                    break;
                case "call":
                    int at = line.indexOf("\"input\":");
                    String input = at < 0 ? "null" : line.substring(at + 8, line.length() - 2);
                    out.print(head + "{\"lang\":\"java\",\"input\":" + input + "}}\n");
                    break;
                case "shutdown":
                    out.print(head + "null}\n");
                    break;
                default:
                    break;
            }
            out.flush();
        }
        System.exit(0);
    }
}
