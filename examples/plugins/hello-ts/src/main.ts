// hello-ts: an example Airlock plugin, in TypeScript.
//
// It implements the hook "greet", which takes {"name": "ada"} and returns
// {"message": "hello, ada"} using its "greeting" setting, and logs through
// the host's "log" function.
import { Plugin } from "@airlock-go/plugin";

/** The settings declared in plugin.toml's [config]. */
interface Settings {
  greeting: string;
}

/** The input of the greet hook. */
interface GreetInput {
  name?: unknown;
}

/** Its output. */
interface GreetOutput {
  message: string;
}

const plugin = new Plugin<Settings>({ name: "hello-ts", version: "0.1.0" });

plugin.hook<GreetInput | null, GreetOutput>("greet", async (ctx, input) => {
  const name = String(input?.name ?? "").trim();
  if (!name) throw new Error("greet: name is empty");
  await ctx.log("info", "greeting someone", { name });
  return { message: `${ctx.setting("greeting", "hello")}, ${name}` };
});

plugin.run();
