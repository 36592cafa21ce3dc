using System.Text;

namespace MultiArch.Tool;

/// <summary>The <c>--help</c> texts, laid out as manifest-tool's (urfave/cli) are.</summary>
internal static class Help
{
    private static readonly (string Command, string Usage, string Summary)[] s_commands =
    [
        (CommandLine.Inspect, "inspect [command options] REF", "fetch image manifests in a container registry"),
        ("push", "push [--type docker|oci] command [command options] [arguments...]", "push a manifest list/OCI index entry to a registry with provided image details"),
        (CommandLine.PushFromSpec, "push from-spec [command options] FILE", "push a manifest list to a registry via a YAML spec"),
        (CommandLine.PushFromArgs, "push from-args [command options]", "push a manifest list to a registry via CLI arguments"),
        (CommandLine.TestRegistry, "test-registry [command options] REGISTRY/REPOSITORY", "check what a registry supports (manifest lists, OCI indexes, mounts, ...) with tiny images it pushes and deletes"),
    ];

    public static string For(string command)
    {
        var text = new StringBuilder();
        if (command.Length == 0)
        {
            text.Append("NAME:\n   multiarch - registry client to inspect and push multi-platform OCI & Docker v2 images\n\n");
            text.Append("USAGE:\n   multiarch [global options] command [command options] [arguments...]\n\n");
            text.Append("VERSION:\n   ").Append(Cli.Version).Append("\n\n");
            text.Append("COMMANDS:\n");
            foreach (var (name, _, summary) in s_commands.Where(c => c.Command is CommandLine.Inspect or "push" or CommandLine.TestRegistry))
            {
                text.Append("   ").Append(name.PadRight(15)).Append(summary).Append('\n');
            }

            text.Append("   ").Append("help, h".PadRight(15)).Append("Shows a list of commands or help for one command\n\n");
            Options(text, "GLOBAL OPTIONS", o => o.Commands == "*");
            text.Append("\nOptions may come in any order, before or after the command. Errors go to stderr with a MULTIARCH code; exit code 0 on success, 1 on failure.\n");
            return text.ToString();
        }

        var (_, usage, about) = s_commands.First(c => c.Command == command);
        text.Append("NAME:\n   multiarch ").Append(command).Append(" - ").Append(about).Append("\n\n");
        text.Append("USAGE:\n   multiarch ").Append(usage).Append("\n\n");
        if (command == "push")
        {
            text.Append("COMMANDS:\n   from-spec  push a manifest list to a registry via a YAML spec\n   from-args  push a manifest list to a registry via CLI arguments\n\n");
        }

        Options(text, "OPTIONS", o => o.Commands != "*" && (command == "push" ? o.Name == "type" : o.AppliesTo(command)), command);
        return text.ToString();
    }

    private static void Options(StringBuilder text, string title, Func<OptionSpec, bool> filter, string command = "")
    {
        text.Append(title).Append(":\n");
        var options = CommandLine.Options.Where(filter).Where(o => o.Name is not ("help" or "version")).ToList();
        var names = options.Select(Name).ToList();
        var width = Math.Max(names.Select(n => n.Length).DefaultIfEmpty(0).Max(), "--version, -v".Length) + 2;
        foreach (var (option, name) in options.Zip(names))
        {
            text.Append("   ").Append(name.PadRight(width)).Append(HelpFor(option, command)).Append('\n');
        }

        text.Append("   ").Append("--help, -h".PadRight(width)).Append("show help\n");
        if (title == "GLOBAL OPTIONS")
        {
            text.Append("   ").Append("--version, -v".PadRight(width)).Append("print the version\n");
        }
    }

    /// <summary>An option shared by several commands may describe itself per command: <c>inspect: …; test-registry: …</c>.</summary>
    private static string HelpFor(OptionSpec option, string command) =>
        option.Help.Split("; ").FirstOrDefault(part => part.StartsWith(command + ": ", StringComparison.Ordinal)) is { } own
            ? own[(command.Length + 2)..]
            : option.Help;

    private static string Name(OptionSpec option) => option.Kind switch
    {
        OptionKind.Flag => "--" + option.Name,
        OptionKind.List => $"--{option.Name} value [ --{option.Name} value ]",
        _ => $"--{option.Name} value",
    };
}
