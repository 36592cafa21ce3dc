using MultiArch.Build.Tasks;

namespace MultiArch.Tool;

/// <summary>How an option takes its value.</summary>
internal enum OptionKind
{
    /// <summary>A switch: present or not (<c>--raw</c>, or <c>--raw=false</c>).</summary>
    Flag,

    /// <summary>One value (<c>--target x</c> or <c>--target=x</c>); the last one given wins.</summary>
    Value,

    /// <summary>Comma-separated values, the option repeatable (<c>--platforms a,b --platforms c</c>).</summary>
    List,
}

/// <summary>An option and the commands it applies to, separated by <c>|</c> (<c>*</c> = every command).</summary>
internal sealed record OptionSpec(string Name, OptionKind Kind, string Commands, string Help, string? Alias = null)
{
    public bool AppliesTo(string command) => Commands == "*" || Commands.Split('|').Contains(command, StringComparer.Ordinal);
}

/// <summary>
/// The command line, parsed by hand: manifest-tool's commands and options, accepted in any order (manifest-tool only
/// takes global options before the command and command options before its argument; everything it accepts works here).
/// Options start with one or two dashes; <c>--</c> ends the options.
/// </summary>
internal sealed class CommandLine
{
    public const string Inspect = "inspect";
    public const string PushFromSpec = "push from-spec";
    public const string PushFromArgs = "push from-args";
    public const string TestRegistry = "test-registry";
    private const string Push = PushFromSpec + "|" + PushFromArgs;

    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("debug", OptionKind.Flag, "*", "enable debug output (requests, retries, every step) on stderr"),
        new("insecure", OptionKind.Flag, "*", "allow an unverified TLS certificate (and plain HTTP) for the registry named on the command line"),
        new("plain-http", OptionKind.Flag, "*", "allow plain HTTP for the registry named on the command line"),
        new("username", OptionKind.Value, "*", "registry username (with --password; used for every registry)"),
        new("password", OptionKind.Value, "*", "registry password"),
        new("docker-cfg", OptionKind.Value, "*", "a directory holding a Docker config.json, or a JSON auth file (default: $DOCKER_CONFIG or ~/.docker)"),
        new("help", OptionKind.Flag, "*", "show help", "h"),
        new("version", OptionKind.Flag, "*", "print the version", "v"),
        new("raw", OptionKind.Flag, Inspect, "manifest-tool's raw JSON output"),
        new("expand-config", OptionKind.Flag, Inspect, "expand image config content in raw JSON output"),
        new("format", OptionKind.Value, Inspect + "|" + TestRegistry, "inspect: text (default), json (docs/inspect-json.md) or raw (the registry's bytes); test-registry: text or json"),
        new("required-platforms", OptionKind.List, Inspect, "fail (after printing) unless these platforms are present, e.g. linux/amd64,linux/arm64"),
        new("type", OptionKind.Value, Push, "docker (Docker manifest list) or oci (OCI image index); default: docker when every image is a Docker manifest, else oci"),
        new("ignore-missing", OptionKind.Flag, Push, "skip (with a warning) a source image that does not exist"),
        new("dry-run", OptionKind.Flag, Push, "resolve every source and print the digest, but write nothing"),
        new("digest-file", OptionKind.Value, Push, "write the index digest (sha256:...) to this file"),
        new("platforms", OptionKind.List, PushFromArgs, "platforms the images are pushed for: os/arch[/variant], comma-separated or repeated"),
        new("template", OptionKind.Value, PushFromArgs, "the source image pattern; OS, ARCH and VARIANT are replaced per platform"),
        new("target", OptionKind.Value, PushFromArgs, "the name of the manifest list or index to push"),
        new("tags", OptionKind.List, PushFromArgs, "more tags for the manifest list or index, comma-separated or repeated"),
        new("annotations", OptionKind.List, PushFromArgs, "index annotations key=value, comma-separated or repeated (OCI only)"),
        new("require", OptionKind.List, TestRegistry, "capabilities that must be supported (default: DockerManifestList,OciIndex; none for none)"),
        new("report", OptionKind.Value, TestRegistry, "write the JSON report to this file"),
        new("source-repository", OptionKind.Value, TestRegistry, "a second repository path for the cross-repository checks (default: REPO-source)"),
        new("no-cleanup", OptionKind.Flag, TestRegistry, "leave what the test pushed in the registry"),
    ];

    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    private CommandLine()
    {
    }

    /// <summary>The command (<c>inspect</c>, <c>push from-spec</c>, …), empty when none was given.</summary>
    public string Command { get; private set; } = string.Empty;

    /// <summary>The words after the command (its arguments).</summary>
    public List<string> Arguments { get; } = [];

    public bool HelpRequested => Has("help");

    public bool Has(string name) => _values.TryGetValue(name, out var values) && values[^1] != "false";

    public string? Value(string name) => _values.TryGetValue(name, out var values) ? values[^1] : null;

    /// <summary>Every value of a list option, split on commas, trimmed, empty ones dropped.</summary>
    public IReadOnlyList<string> List(string name) => _values.TryGetValue(name, out var values)
        ? [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))]
        : [];

    public IEnumerable<string> Given => _values.Keys;

    /// <summary>Parses the arguments; a malformed command line throws a coded <see cref="MultiArchException"/>.</summary>
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var line = new CommandLine();
        var words = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                words.AddRange(args.Skip(i + 1));
                break;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                words.Add(arg);
                continue;
            }

            var text = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
            var equals = text.IndexOf('=', StringComparison.Ordinal);
            var name = equals >= 0 ? text[..equals] : text;
            var option = Options.FirstOrDefault(o => o.Name == name || o.Alias == name)
                ?? throw MultiArchException.Create(MessageId.CliUnknownOption, arg);
            string value;
            if (option.Kind == OptionKind.Flag)
            {
                value = equals < 0 ? "true" : text[(equals + 1)..].ToLowerInvariant() switch
                {
                    "true" or "1" => "true",
                    "false" or "0" => "false",
                    _ => throw MultiArchException.Create(MessageId.CliInvalidOptionValue, "--" + option.Name, text[(equals + 1)..], "true or false"),
                };
            }
            else if (equals >= 0)
            {
                value = text[(equals + 1)..];
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                throw MultiArchException.Create(MessageId.CliMissingOptionValue, "--" + option.Name);
            }

            if (!line._values.TryGetValue(option.Name, out var list))
            {
                line._values[option.Name] = list = [];
            }

            list.Add(value);
        }

        line.SetCommand(words);
        return line;
    }

    private void SetCommand(List<string> words)
    {
        if (words.Count == 0)
        {
            return;
        }

        var first = words[0];
        switch (first)
        {
            case "help" or "h":
                _values["help"] = ["true"];
                words.RemoveAt(0);
                SetCommand(words);
                return;
            case Inspect or TestRegistry:
                Command = first;
                break;
            case "push":
                if (words.Count < 2 || words[1] is not ("from-spec" or "from-args"))
                {
                    Command = "push";
                    if (!HelpRequested)
                    {
                        throw MultiArchException.Create(MessageId.CliUnknownCommand, words.Count < 2 ? "push" : "push " + words[1], "push from-spec FILE, push from-args --platforms ... --template ... --target ...");
                    }

                    return;
                }

                Command = "push " + words[1];
                words.RemoveAt(0);
                break;
            default:
                throw MultiArchException.Create(MessageId.CliUnknownCommand, first, "inspect, push from-spec, push from-args, test-registry");
        }

        Arguments.AddRange(words.Skip(1));
        foreach (var name in _values.Keys)
        {
            var option = Options.First(o => o.Name == name);
            if (!option.AppliesTo(Command))
            {
                throw MultiArchException.Create(MessageId.CliOptionNotForCommand, "--" + name, Command, option.Commands.Replace(Push, "push", StringComparison.Ordinal).Replace("|", ", ", StringComparison.Ordinal));
            }
        }
    }

    /// <summary>The one argument a command takes (REF, FILE, REPO).</summary>
    public string SingleArgument(string what)
    {
        if (Arguments.Count == 0)
        {
            throw MultiArchException.Create(MessageId.CliMissingArgument, Command, what);
        }

        if (Arguments.Count > 1)
        {
            throw MultiArchException.Create(MessageId.CliUnexpectedArgument, Command, string.Join(" ", Arguments.Skip(1)), what);
        }

        return Arguments[0];
    }

    /// <summary>A command without arguments (<c>push from-args</c>).</summary>
    public void NoArguments()
    {
        if (Arguments.Count > 0)
        {
            throw MultiArchException.Create(MessageId.CliUnexpectedArgument, Command, string.Join(" ", Arguments), "no argument");
        }
    }
}
