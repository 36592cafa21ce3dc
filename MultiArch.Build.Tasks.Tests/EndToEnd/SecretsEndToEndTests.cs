using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// Builds with <c>-bl</c> and diagnostic console verbosity that push and inspect on registries whose password is a
/// canary (with <c>+ / = &amp; %</c>, so its URL-encoded and JSON-escaped forms differ from it), the credentials given
/// each way the package reads them: our variables, docker config <c>auths</c>, <c>credHelpers</c> and <c>credsStore</c>
/// (shell-script helpers on PATH answering with the canary), token authentication (the token registry, credentials
/// from config <c>auths</c>; the tokens it issued are secrets too), and a password the registry refuses. Then the binary
/// log (file, decompressed records, embedded project imports) and the console are searched for every form of the
/// secrets: nothing is allowed but MSBuild's own record of a <c>DOTNET_*</c> variable.
/// </summary>
[TestClass]
public sealed class SecretsEndToEndTests
{
    private const string SdkPasswordVariable = "DOTNET_CONTAINER_REGISTRY_PWORD";
    private const string Note = "came from the environment variable";

    private static RegistryServer s_basic = null!;
    private static RegistryServer s_token = null!;
    private static TestProject s_project = null!;
    private static string s_repository = null!;
    private static string s_canary = null!;

    public TestContext TestContext { get; set; } = null!;

    private static string User => s_basic.Username!;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        var project = TestProject.CreateAsync("secrets", cancellationToken: context.CancellationToken);
        s_canary = "canary+" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)) + "/=&%";
        var basic = RegistryServer.StartAsync(new RegistryOptions(RegistryMode.Basic) { Password = s_canary }, context.CancellationToken);
        var token = RegistryServer.StartAsync(new RegistryOptions(RegistryMode.Token) { Password = s_canary, Token = new TokenServerOptions { AllowAnonymousPull = false } }, context.CancellationToken);
        s_basic = await basic;
        s_token = await token;
        s_repository = TestNames.Repository("e2e-secrets");
        await Task.WhenAll(new[] { s_basic, s_token }.SelectMany(server => new[]
        {
            SkopeoPusher.PushAsync(server, s_repository, "src-linux-amd64", TestImages.Image(TestImages.LinuxAmd64, "secrets"), context.CancellationToken),
            SkopeoPusher.PushAsync(server, s_repository, "src-linux-arm64v8", TestImages.Image(TestImages.LinuxArm64, "secrets"), context.CancellationToken),
        }));
        s_project = await project;
    }

    [ClassCleanup]
    public static async Task CleanupAsync()
    {
        foreach (var server in new[] { s_basic, s_token })
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }
        }
    }

    [TestMethod]
    public async Task PasswordFromMultiArchVariablesIsNeitherInTheBinaryLogNorInTheConsole()
    {
        var environment = TestProject.RegistryEnvironment(s_basic);
        Assert.AreEqual(s_canary, environment["MULTIARCH_REGISTRY_PASSWORD"]);

        var result = await PushAndInspectAsync(s_basic, "multiarch-variables", environment);

        result.ShouldNotContain(Note, "the note about a recorded variable");
        ShouldHoldNoSecret(result, s_basic);
    }

    [TestMethod]
    public async Task PasswordFromDockerConfigAuthsIsNeitherInTheBinaryLogNorInTheConsole()
    {
        var result = await PushAndInspectAsync(s_basic, "docker-config", ConfigEnvironment(s_basic, AuthsConfig(s_basic)));

        ShouldHoldNoSecret(result, s_basic);
    }

    [TestMethod]
    public async Task PasswordFromACredHelpersHelperIsNeitherInTheBinaryLogNorInTheConsole()
    {
        using var helpers = new CredentialHelpers();
        helpers.Answering("canary", User, s_canary);
        var environment = ConfigEnvironment(s_basic, $$"""{"credHelpers": {"{{s_basic.Host}}": "canary"} }""");
        environment["PATH"] = helpers.PathValue;

        var result = await PushAndInspectAsync(s_basic, "cred-helpers", environment);

        ShouldHoldNoSecret(result, s_basic);
    }

    [TestMethod]
    public async Task PasswordFromACredsStoreHelperIsNeitherInTheBinaryLogNorInTheConsole()
    {
        using var helpers = new CredentialHelpers();
        helpers.Answering("canarystore", User, s_canary);
        var environment = ConfigEnvironment(s_basic, """{"credsStore": "canarystore"}""");
        environment["PATH"] = helpers.PathValue;

        var result = await PushAndInspectAsync(s_basic, "creds-store", environment);

        ShouldHoldNoSecret(result, s_basic);
    }

    [TestMethod]
    public async Task TokenAuthentication_NeitherThePasswordNorAnIssuedTokenIsInTheLogs()
    {
        var before = s_token.TokenServer!.IssuedTokens.Count;

        var result = await PushAndInspectAsync(s_token, "token", ConfigEnvironment(s_token, AuthsConfig(s_token)));

        var tokens = s_token.TokenServer.IssuedTokens.Skip(before).ToList();
        Assert.IsNotEmpty(tokens, "the build authenticated with tokens");
        ShouldHoldNoSecret(result, s_token, SecretScan.Plain("an issued bearer token", tokens));
    }

    [TestMethod]
    public async Task RefusedPassword_TheFailureNamesItsSource_NotTheValue()
    {
        var wrong = "wrong+" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)) + "/=&%";
        var auths = new Dictionary<string, object> { [s_basic.Host] = new Dictionary<string, string> { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{wrong}")) } };
        var environment = ConfigEnvironment(s_basic, JsonSerializer.Serialize(new Dictionary<string, object> { ["auths"] = auths }));

        var result = await s_project.MSBuildAsync(
            "InspectContainerImage",
            new() { ["ContainerInspectImage"] = s_basic.Reference(s_repository, "src-linux-amd64") },
            environment,
            ["-v:diag"],
            TestContext.CancellationToken);

        result.ShouldFailWith("MULTIARCH1003").ShouldContain("refused the credentials from the auth file").ShouldShowNoStackTrace();
        ShouldBeEmpty(SecretScan.Find([.. SecretScan.BinaryLogParts(result.BinlogPath), ConsolePart(result)], SecretScan.FormsOf(wrong, User)), result);
    }

    /// <summary>
    /// MSBuild itself records <c>DOTNET_*</c> variables in a binary log's build-started event (and prints them at
    /// diagnostic verbosity), so the SDK's password variable is there whatever this package does. What the package owes:
    /// the one-time note naming the variable, never the value, and no other copy anywhere (console, base64 and encoded
    /// forms, project imports).
    /// </summary>
    [TestMethod]
    public async Task SdkPasswordVariableGetsTheNoteWithoutTheValueAndOnlyMSBuildRecordsIt()
    {
        var environment = TestProject.RegistryEnvironment(s_basic, withCredentials: false);
        environment["DOTNET_CONTAINER_REGISTRY_UNAME"] = User;
        environment[SdkPasswordVariable] = s_canary;

        var result = await PushAndInspectAsync(s_basic, "sdk-variable", environment);

        var notes = result.Output.Split('\n').Where(l => l.Contains(Note, StringComparison.Ordinal)).ToList();
        if (notes.Count != 1 || !notes[0].Contains($"credentials for '{s_basic.Host}' {Note} {SdkPasswordVariable}.", StringComparison.Ordinal))
        {
            Assert.Fail($"Expected one note naming {SdkPasswordVariable}; found {notes.Count}. Binary log kept at: {result.KeepLogs()}");
        }

        // Every copy of the plain password in the records and on the console must be MSBuild's environment record.
        var parts = SecretScan.BinaryLogParts(result.BinlogPath);
        var records = parts.Single(p => p.Name == "binlog records").Bytes;
        var console = ConsolePart(result);
        foreach (var part in new[] { new ScannedPart("binlog records", records), console })
        {
            var unexplained = SecretScan.NotAfterVariable(part.Bytes, s_canary, SdkPasswordVariable);
            if (unexplained.Count > 0)
            {
                Assert.Fail($"The password is in the {part.Name} at byte(s) {string.Join(", ", unexplained)}, not right after {SdkPasswordVariable}. Binary log kept at: {result.KeepLogs()}");
            }
        }

        TestContext.WriteLine($"MSBuild recorded the value of {SdkPasswordVariable} {SecretScan.Occurrences(records, Encoding.UTF8.GetBytes(s_canary)).Count()} time(s) in the binlog records and {SecretScan.Occurrences(console.Bytes, Encoding.UTF8.GetBytes(s_canary)).Count()} time(s) on the diagnostic console (its environment record); the package printed only the variable's name.");

        // Nowhere else, and in no other form.
        var forms = SecretScan.FormsOf(s_canary, User);
        var plain = forms.Where(f => f.Name == SecretScan.PlainForm).ToList();
        var findings = SecretScan.Find([.. parts.Where(p => p.Name != "binlog records")], forms)
            .Concat(SecretScan.Find([new ScannedPart("binlog records", records), console], [.. forms.Except(plain)]))
            .ToList();
        ShouldBeEmpty(findings, result);
    }

    /// <summary>Pushes an index of the two seeded images to a new tag, then inspects it, in one build, at diagnostic verbosity.</summary>
    private async Task<BuildResult> PushAndInspectAsync(RegistryServer server, string tag, Dictionary<string, string?> environment)
    {
        var target = server.Reference(s_repository, tag);
        var result = await s_project.MSBuildAsync(
            "PushContainerManifestList;InspectContainerImage",
            new()
            {
                ["ContainerManifestPlatforms"] = "linux/amd64,linux/arm64/v8",
                ["ContainerManifestTemplate"] = server.Reference(s_repository, "src-OS-ARCHVARIANT"),
                ["ContainerManifestTarget"] = target,
                ["ContainerInspectImage"] = target,
                ["ContainerInspectRequiredPlatforms"] = "linux/amd64;linux/arm64/v8",
            },
            environment,
            ["-v:diag"],
            TestContext.CancellationToken);

        // Succeeding proves the password was used: both registries refuse anonymous pulls and pushes.
        return result.ShouldSucceed().ShouldContain($"Pushed {target}@sha256:").ShouldContain($"Name:   {target} (Type: ");
    }

    private Dictionary<string, string?> ConfigEnvironment(RegistryServer server, string configJson)
    {
        var dockerConfig = Path.Combine(s_project.Directory, "docker-config-" + TestContext.TestName);
        Directory.CreateDirectory(dockerConfig);
        File.WriteAllText(Path.Combine(dockerConfig, "config.json"), configJson);
        var environment = TestProject.RegistryEnvironment(server, withCredentials: false);
        environment["DOCKER_CONFIG"] = dockerConfig;
        return environment;
    }

    private static string AuthsConfig(RegistryServer server) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["auths"] = new Dictionary<string, object> { [server.Host] = new Dictionary<string, string> { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{server.Username}:{s_canary}")) } },
    });

    private static void ShouldHoldNoSecret(BuildResult result, RegistryServer server, IEnumerable<SecretForm>? more = null)
    {
        var parts = SecretScan.BinaryLogParts(result.BinlogPath);
        Assert.IsTrue(parts.Any(p => p.Name.StartsWith("binlog import: ", StringComparison.Ordinal) && p.Name.EndsWith("MultiArch.Build.Tasks.targets", StringComparison.Ordinal)),
            "the binary log's embedded project imports were not found, so they were not searched: " + string.Join(", ", parts.Select(p => p.Name)));
        Assert.IsGreaterThan(100_000, result.Console.Length, "the console is at diagnostic verbosity");
        ShouldBeEmpty(SecretScan.Find([.. parts, ConsolePart(result)], [.. SecretScan.FormsOf(s_canary, server.Username!), .. more ?? []]), result);
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
