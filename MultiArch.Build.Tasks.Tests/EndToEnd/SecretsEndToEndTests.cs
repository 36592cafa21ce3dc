using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// A build with <c>-bl</c> that pushes and inspects on a Basic-auth registry whose password is a canary, with the
/// password given each way the package reads it; then the binary log (file, decompressed records, embedded project
/// imports) and the console are searched for the password, its base64, and base64 of <c>user:password</c>.
/// </summary>
[TestClass]
public sealed class SecretsEndToEndTests
{
    private const string SdkPasswordVariable = "DOTNET_CONTAINER_REGISTRY_PWORD";
    private const string Note = "came from the environment variable";

    private static RegistryServer s_registry = null!;
    private static TestProject s_project = null!;
    private static string s_repository = null!;
    private static IReadOnlyList<SecretForm> s_forms = null!;

    public TestContext TestContext { get; set; } = null!;

    private static string Password => s_registry.Password!;

    private static string User => s_registry.Username!;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        var project = TestProject.CreateAsync("secrets", cancellationToken: context.CancellationToken);
        var canary = "canary-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        s_registry = await RegistryServer.StartAsync(new RegistryOptions(RegistryMode.Basic) { Password = canary }, context.CancellationToken);
        s_repository = TestNames.Repository("e2e-secrets");
        s_forms = SecretScan.FormsOf(Password, User);
        await Task.WhenAll(
            SkopeoPusher.PushAsync(s_registry, s_repository, "src-linux-amd64", TestImages.Image(TestImages.LinuxAmd64, "secrets"), context.CancellationToken),
            SkopeoPusher.PushAsync(s_registry, s_repository, "src-linux-arm64v8", TestImages.Image(TestImages.LinuxArm64, "secrets"), context.CancellationToken));
        s_project = await project;
    }

    [ClassCleanup]
    public static async Task CleanupAsync()
    {
        if (s_registry is not null)
        {
            await s_registry.DisposeAsync();
        }
    }

    [TestMethod]
    public async Task PasswordFromMultiArchVariablesIsNeitherInTheBinaryLogNorInTheConsole()
    {
        var environment = TestProject.RegistryEnvironment(s_registry);
        Assert.AreEqual(Password, environment["MULTIARCH_REGISTRY_PASSWORD"]);

        var result = await PushAndInspectAsync("multiarch-variables", environment);

        result.ShouldNotContain(Note, "the note about a recorded variable");
        ShouldHoldNoSecret(result);
    }

    [TestMethod]
    public async Task PasswordFromDockerConfigAuthsIsNeitherInTheBinaryLogNorInTheConsole()
    {
        var dockerConfig = Path.Combine(s_project.Directory, "docker-config-" + TestContext.TestName);
        Directory.CreateDirectory(dockerConfig);
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        var config = new Dictionary<string, object> { ["auths"] = new Dictionary<string, object> { [s_registry.Host] = new Dictionary<string, string> { ["auth"] = auth } } };
        await File.WriteAllTextAsync(Path.Combine(dockerConfig, "config.json"), JsonSerializer.Serialize(config), TestContext.CancellationToken);
        var environment = TestProject.RegistryEnvironment(s_registry, withCredentials: false);
        environment["DOCKER_CONFIG"] = dockerConfig;

        var result = await PushAndInspectAsync("docker-config", environment);

        ShouldHoldNoSecret(result);
    }

    /// <summary>
    /// MSBuild itself records <c>DOTNET_*</c> variables in a binary log's build-started event, so the SDK's password
    /// variable is in the log whatever this package does. What the package owes: the one-time note naming the variable,
    /// never the value, and no other copy anywhere (console, base64 forms, project imports).
    /// </summary>
    [TestMethod]
    public async Task SdkPasswordVariableGetsTheNoteWithoutTheValueAndOnlyMSBuildRecordsIt()
    {
        var environment = TestProject.RegistryEnvironment(s_registry, withCredentials: false);
        environment["DOTNET_CONTAINER_REGISTRY_UNAME"] = User;
        environment[SdkPasswordVariable] = Password;

        var result = await PushAndInspectAsync("sdk-variable", environment);

        var notes = result.Output.Split('\n').Where(l => l.Contains(Note, StringComparison.Ordinal)).ToList();
        if (notes.Count != 1 || !notes[0].Contains($"credentials for '{s_registry.Host}' {Note} {SdkPasswordVariable}.", StringComparison.Ordinal))
        {
            Assert.Fail($"Expected one note naming {SdkPasswordVariable}.\n{result.Report()}");
        }

        // Every copy of the plain password in the records must be MSBuild's environment record: the variable name just before it.
        var parts = SecretScan.BinaryLogParts(result.BinlogPath);
        var records = parts.Single(p => p.Name == "binlog records").Bytes;
        var name = Encoding.UTF8.GetBytes(SdkPasswordVariable);
        bool AfterTheVariableName(int offset)
        {
            var from = Math.Max(0, offset - name.Length - 8);
            return records.AsSpan(from, offset - from).IndexOf(name) >= 0;
        }

        var recorded = SecretScan.Occurrences(records, Encoding.UTF8.GetBytes(Password)).ToList();
        var unexplained = recorded.Where(offset => !AfterTheVariableName(offset)).ToList();
        if (unexplained.Count > 0)
        {
            Assert.Fail($"The password is in the binlog records at byte(s) {string.Join(", ", unexplained)}, not right after {SdkPasswordVariable}. Binary log kept at: {result.KeepLogs()}");
        }

        TestContext.WriteLine($"MSBuild recorded the value of {SdkPasswordVariable} {recorded.Count} time(s) in the binlog records (its environment record); the package printed only the variable's name.");

        // Nowhere else: not in the console, not as base64, not in the project imports.
        var plain = s_forms.Where(f => f.Name == SecretScan.PlainForm).ToList();
        var findings = SecretScan.Find([.. parts.Where(p => p.Name != "binlog records"), ConsolePart(result)], s_forms)
            .Concat(SecretScan.Find([new ScannedPart("binlog records", records)], [.. s_forms.Except(plain)]))
            .ToList();
        ShouldBeEmpty(findings, result);
    }

    /// <summary>Pushes an index of the two seeded images to a new tag, then inspects it, in one build.</summary>
    private async Task<BuildResult> PushAndInspectAsync(string tag, Dictionary<string, string?> environment)
    {
        var target = s_registry.Reference(s_repository, tag);
        var result = await s_project.MSBuildAsync(
            "PushContainerManifestList;InspectContainerImage",
            new()
            {
                ["ContainerManifestPlatforms"] = "linux/amd64,linux/arm64/v8",
                ["ContainerManifestTemplate"] = s_registry.Reference(s_repository, "src-OS-ARCHVARIANT"),
                ["ContainerManifestTarget"] = target,
                ["ContainerInspectImage"] = target,
                ["ContainerInspectRequiredPlatforms"] = "linux/amd64;linux/arm64/v8",
            },
            environment,
            cancellationToken: TestContext.CancellationToken);

        // Succeeding proves the password was used: the registry refuses anonymous pulls and pushes.
        return result.ShouldSucceed().ShouldContain($"Pushed {target}@sha256:").ShouldContain($"Name:   {target} (Type: ");
    }

    private static void ShouldHoldNoSecret(BuildResult result)
    {
        var parts = SecretScan.BinaryLogParts(result.BinlogPath);
        Assert.IsTrue(parts.Any(p => p.Name.StartsWith("binlog import: ", StringComparison.Ordinal) && p.Name.EndsWith("MultiArch.Build.Tasks.targets", StringComparison.Ordinal)),
            "the binary log's embedded project imports were not found, so they were not searched: " + string.Join(", ", parts.Select(p => p.Name)));
        ShouldBeEmpty(SecretScan.Find([.. parts, ConsolePart(result)], s_forms), result);
    }

    /// <summary>Fails with where the secret was found and the kept binary log, never with the console (it holds the secret then).</summary>
    private static void ShouldBeEmpty(IReadOnlyList<string> findings, BuildResult result)
    {
        if (findings.Count > 0)
        {
            Assert.Fail($"Found: {string.Join("; ", findings)}. Binary log kept at: {result.KeepLogs()}");
        }
    }

    private static ScannedPart ConsolePart(BuildResult result) => new("console", Encoding.UTF8.GetBytes(result.Console));
}
