using System.Diagnostics;
using System.Globalization;
using System.Security;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// A temp folder with a minimal SDK project (net10.0 class library) that references the packed
/// <see cref="PackageFeed"/> package, restored once on creation, and helpers that run <c>dotnet msbuild|build|publish</c>
/// on it as a child process: always <c>-bl</c>, <c>-nr:false</c>, <c>-tl:off -v:m</c> (the console a CI log shows, where
/// High-importance messages appear), with a scrubbed environment (<see cref="ChildEnvironment"/>).
/// </summary>
/// <remarks>
/// Layout: <c>&lt;RunDirectory&gt;/projects/&lt;name&gt;-&lt;id&gt;/</c> with <c>app.csproj</c>, <c>nuget.config</c> (cleared; the
/// local feed for our package only, nuget.org for everything else), <c>global.json</c> (the repository's), empty
/// <c>Directory.Build.props/targets</c> (so nothing above the temp folder is imported) and <c>logs/</c> for binary logs.
/// Every project of a run shares one <c>NUGET_PACKAGES</c> folder, so the package is extracted once per run.
/// </remarks>
internal sealed class TestProject
{
    /// <summary>The machine's default source; restores of SDK packages go there (through the mirror on CI).</summary>
    public const string NuGetOrgSource = "https://api.nuget.org/v3/index.json";

    /// <summary>How long one child build may take before it is killed.</summary>
    public static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(3);

    /// <summary>Inherited variables (by prefix, case-insensitive) that never reach a child unless a test sets them.</summary>
    private static readonly string[] s_scrubbedPrefixes = ["DOTNET_CONTAINER_", "SDK_CONTAINER_", "MULTIARCH_", "DOCKER_", "REGISTRY_", "MSBUILD"];

    private int _runs;

    private TestProject(string name, string directory, PackageFeed feed)
    {
        Name = name;
        Directory = directory;
        Feed = feed;
    }

    public string Name { get; }

    /// <summary>The project folder.</summary>
    public string Directory { get; }

    public string ProjectPath => Path.Combine(Directory, "app.csproj");

    /// <summary>Where the binary logs of this project's runs go (<c>NN-command.binlog</c>).</summary>
    public string LogDirectory => Path.Combine(Directory, "logs");

    public PackageFeed Feed { get; }

    /// <summary>The run's shared <c>NUGET_PACKAGES</c>.</summary>
    public static string PackagesDirectory => Path.Combine(PackageFeed.RunDirectory, "packages");

    /// <summary>The children's <c>HOME</c>: empty at first (the dotnet CLI and NuGet write their own files there).</summary>
    public static string HomeDirectory => Path.Combine(PackageFeed.RunDirectory, "home");

    /// <summary>The children's <c>DOCKER_CONFIG</c> unless a test sets its own: an empty folder.</summary>
    public static string EmptyDockerConfigDirectory => Path.Combine(PackageFeed.RunDirectory, "docker-config-empty");

    /// <summary>
    /// Packs the product (once per run), writes the project and restores it. <paramref name="projectContent"/> is extra
    /// XML put inside <c>&lt;Project&gt;</c> (property groups, items, targets).
    /// </summary>
    public static async Task<TestProject> CreateAsync(string name, string? projectContent = null, CancellationToken cancellationToken = default)
    {
        var feed = await PackageFeed.GetAsync();
        var directory = Path.Combine(PackageFeed.RunDirectory, "projects", TestNames.Tag(name));
        System.IO.Directory.CreateDirectory(directory);
        var project = new TestProject(name, directory, feed);
        System.IO.Directory.CreateDirectory(project.LogDirectory);

        await File.WriteAllTextAsync(project.ProjectPath, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{PackageFeed.PackageId}" Version="{feed.Version}" PrivateAssets="all" />
              </ItemGroup>
            {projectContent}
            </Project>

            """, cancellationToken);
        await project.FinishAsync(cancellationToken);
        return project;
    }

    /// <summary>
    /// A project made by the SDK's own template (<c>dotnet new &lt;template&gt; -n app</c>: web, worker, console …; the
    /// templates ship with the SDK, nothing is downloaded), with the package reference and
    /// <paramref name="projectContent"/> added before <c>&lt;/Project&gt;</c>; then as <see cref="CreateAsync"/>.
    /// </summary>
    public static async Task<TestProject> CreateFromTemplateAsync(string name, string template, string? projectContent = null, CancellationToken cancellationToken = default)
    {
        var feed = await PackageFeed.GetAsync();
        var directory = Path.Combine(PackageFeed.RunDirectory, "projects", TestNames.Tag(name));
        System.IO.Directory.CreateDirectory(directory);
        var project = new TestProject(name, directory, feed);
        System.IO.Directory.CreateDirectory(project.LogDirectory);
        var created = await ProcessRunner.RunAsync("dotnet", ["new", template, "-n", "app", "-o", directory, "--no-restore"], BuildTimeout, ChildEnvironment(), directory, cancellationToken);
        created.EnsureSuccess();
        var xml = await File.ReadAllTextAsync(project.ProjectPath, cancellationToken);
        var end = xml.LastIndexOf("</Project>", StringComparison.Ordinal);
        xml = xml[..end] + $"""
              <ItemGroup>
                <PackageReference Include="{PackageFeed.PackageId}" Version="{feed.Version}" PrivateAssets="all" />
              </ItemGroup>
            {projectContent}
            </Project>

            """;
        await File.WriteAllTextAsync(project.ProjectPath, xml, cancellationToken);
        await project.FinishAsync(cancellationToken);
        return project;
    }

    /// <summary>nuget.config, empty Directory.Build.props/targets, global.json, then a restore.</summary>
    private async Task FinishAsync(CancellationToken cancellationToken)
    {
        var (feed, directory, project) = (Feed, Directory, this);
        await File.WriteAllTextAsync(Path.Combine(directory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{SecurityElement.Escape(feed.FeedDirectory)}" />
                <add key="nuget.org" value="{NuGetOrgSource}" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="{PackageFeed.PackageId}" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>

            """, cancellationToken);
        const string Empty = "<Project />\n";
        await File.WriteAllTextAsync(Path.Combine(directory, "Directory.Build.props"), Empty, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "Directory.Build.targets"), Empty, cancellationToken);
        File.Copy(Path.Combine(RepoPaths.Root, "global.json"), Path.Combine(directory, "global.json"));

        (await project.RunAsync("restore", [], cancellationToken: cancellationToken)).ShouldSucceed();
    }

    /// <summary><c>dotnet msbuild -t:&lt;targets&gt;</c> (no restore: the project was restored on creation).</summary>
    public Task<BuildResult> MSBuildAsync(
        string targets,
        Dictionary<string, string>? properties = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        IEnumerable<string>? arguments = null,
        CancellationToken cancellationToken = default) =>
        RunAsync("msbuild", ["-t:" + targets, .. Properties(properties), .. arguments ?? []], environment, cancellationToken);

    /// <summary><c>dotnet build</c>, with the properties and extra arguments (e.g. <c>-t:</c>) given.</summary>
    public Task<BuildResult> BuildAsync(
        Dictionary<string, string>? properties = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        IEnumerable<string>? arguments = null,
        CancellationToken cancellationToken = default) =>
        RunAsync("build", [.. Properties(properties), .. arguments ?? []], environment, cancellationToken);

    /// <summary><c>dotnet publish</c>, with the properties and extra arguments given.</summary>
    public Task<BuildResult> PublishAsync(
        Dictionary<string, string>? properties = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        IEnumerable<string>? arguments = null,
        CancellationToken cancellationToken = default) =>
        RunAsync("publish", [.. Properties(properties), .. arguments ?? []], environment, cancellationToken);

    /// <summary>
    /// <c>dotnet &lt;command&gt; app.csproj -nr:false -tl:off -v:m -nologo -bl:logs/NN-command.binlog &lt;arguments&gt;</c> in
    /// the project folder, with <see cref="ChildEnvironment"/> plus <paramref name="environment"/>, killed after
    /// <see cref="BuildTimeout"/>. Returns whatever the exit code; assert with the <see cref="BuildResult"/> helpers.
    /// </summary>
    public async Task<BuildResult> RunAsync(
        string command,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var n = Interlocked.Increment(ref _runs);
        var binlog = Path.Combine(LogDirectory, $"{n.ToString("00", CultureInfo.InvariantCulture)}-{command}.binlog");
        List<string> commandLine = [command, ProjectPath, "-nr:false", "-tl:off", "-v:m", "-nologo", "-bl:" + binlog, .. arguments];
        var stopwatch = Stopwatch.StartNew();
        var result = await ProcessRunner.RunAsync("dotnet", commandLine, BuildTimeout, ChildEnvironment(environment), Directory, cancellationToken);
        return new BuildResult(this, result.CommandLine, result.ExitCode, result.StandardOutputText, result.StandardError, stopwatch.Elapsed, binlog);
    }

    /// <summary>
    /// The environment of every child build: the inherited one minus every <c>DOTNET_CONTAINER_*</c>,
    /// <c>SDK_CONTAINER_*</c>, <c>MULTIARCH_*</c>, <c>DOCKER_*</c>, <c>REGISTRY_*</c> and <c>MSBUILD*</c>/<c>MSBuild*</c>
    /// variable (the test host's own MSBuild variables would redirect the child's SDK); <c>HOME</c> and
    /// <c>DOCKER_CONFIG</c> set to the run's folders (no docker config), the run's <c>NUGET_PACKAGES</c>, no node reuse,
    /// no build server, no telemetry; then <paramref name="overrides"/> (a null value removes a variable).
    /// </summary>
    public static Dictionary<string, string?> ChildEnvironment(IReadOnlyDictionary<string, string?>? overrides = null) =>
        ScrubbedEnvironment(Environment.GetEnvironmentVariables().Keys.Cast<string>(), overrides);

    /// <summary><see cref="ChildEnvironment"/> for the inherited variable names given (a test seam).</summary>
    internal static Dictionary<string, string?> ScrubbedEnvironment(IEnumerable<string> inheritedNames, IReadOnlyDictionary<string, string?>? overrides)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in inheritedNames.Where(name => s_scrubbedPrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))))
        {
            environment[name] = null;
        }

        System.IO.Directory.CreateDirectory(HomeDirectory);
        System.IO.Directory.CreateDirectory(EmptyDockerConfigDirectory);
        environment["HOME"] = HomeDirectory;
        environment["DOCKER_CONFIG"] = EmptyDockerConfigDirectory;
        environment["NUGET_PACKAGES"] = PackagesDirectory;
        environment["MSBUILDDISABLENODEREUSE"] = "1";
        environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        environment["DOTNET_NOLOGO"] = "1";
        environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        foreach (var (name, value) in overrides ?? new Dictionary<string, string?>())
        {
            environment[name] = value;
        }

        return environment;
    }

    /// <summary>
    /// What a build needs to reach <paramref name="server"/> (<see cref="TestClients.Environment"/>: the insecure list for
    /// plain HTTP, the user in <c>MULTIARCH_REGISTRY_*</c>), plus <c>SSL_CERT_FILE</c> = the test CA for a TLS registry.
    /// The child keeps the run's empty <c>HOME</c> and <c>DOCKER_CONFIG</c> unless the caller replaces them.
    /// </summary>
    public static Dictionary<string, string?> RegistryEnvironment(RegistryServer server, bool withCredentials = true)
    {
        var environment = TestClients.Environment(server, withCredentials);
        environment.Remove("HOME");
        environment.Remove("DOCKER_CONFIG");
        if (server.CaPemPath is { } ca)
        {
            environment["SSL_CERT_FILE"] = ca;
        }

        return environment;
    }

    /// <summary>
    /// <c>-p:Name=Value</c> per property, with <c>%</c>, <c>;</c> and <c>,</c> MSBuild-escaped: unescaped, <c>-p:A=x,y</c> and
    /// <c>-p:A=x;y</c> fail with MSB1006 (MSBuild reads <c>y</c> as another property).
    /// </summary>
    public static IEnumerable<string> Properties(IReadOnlyDictionary<string, string>? properties) =>
        (properties ?? new Dictionary<string, string>()).Select(p => $"-p:{p.Key}={Escape(p.Value)}");

    private static string Escape(string value) => value
        .Replace("%", "%25", StringComparison.Ordinal)
        .Replace(";", "%3B", StringComparison.Ordinal)
        .Replace(",", "%2C", StringComparison.Ordinal);

    public override string ToString() => $"test project {Name} at {Directory}";
}
