# interp-ruby: the protocol by hand (docs/PROTOCOL.md), standard library only.
require "json"

$stdout.sync = true

def send_msg(msg)
  $stdout.write(JSON.generate(msg) + "\n")
end

$stdin.each_line do |line|
  next if line.strip.empty?
  msg = JSON.parse(line)
  case msg["method"]
  when "initialize"
    send_msg({ "jsonrpc" => "2.0", "id" => msg["id"], "result" => { "protocol" => 1, "name" => "interp-ruby", "version" => "0.1.0", "hooks" => ["greet"] } })
  when "call"
    send_msg({ "jsonrpc" => "2.0", "id" => msg["id"], "result" => { "lang" => "ruby", "input" => msg["params"]["input"] } })
  when "shutdown"
    send_msg({ "jsonrpc" => "2.0", "id" => msg["id"], "result" => nil })
  end
end
exit 0
