using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// Every kind of project people containerize, made by the SDK's own templates (<c>dotnet new web|worker|console</c>,
/// offline: the templates ship with the SDK) plus a multi-targeted one, publishes linux/amd64 and linux/arm64 with
/// <c>dotnet publish -t:PublishMultiArchContainer</c>; an independent client (skopeo) reads the index. One publish per
/// kind (each costs three compiles: the RID-less Publish that <c>dotnet publish</c> asks for, and one per platform).
/// </summary>
[TestClass]
public sealed class ProjectKindsEndToEndTests
{
    private const string Platforms = """
          <PropertyGroup>
            <RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>
          </PropertyGroup>
        """;

    public TestContext TestContext { get; set; } = null!;

    private async Task<string> SeedBaseAsync(RegistryServer registry)
    {
        var repository = TestNames.Repository("kinds-base");
        await SkopeoPusher.PushAsync(registry, repository, "1", TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "kinds-base"), TestContext.CancellationToken);
        return registry.Reference(repository, "1");
    }

    private Task<BuildResult> PublishAsync(TestProject project, RegistryServer registry, string repository, string baseImage, Dictionary<string, string?> environment, params string[] arguments) =>
        project.PublishAsync(
            new() { ["ContainerRegistry"] = registry.Host, ["ContainerRepository"] = repository, ["ContainerBaseImage"] = baseImage, ["ContainerImageTag"] = "1" },
            environment,
            ["-t:PublishMultiArchContainer", .. arguments],
            TestContext.CancellationToken);

    /// <summary>The platforms of the index at <c>repository:1</c>, as skopeo reads it.</summary>
    private async Task<string[]> IndexPlatformsAsync(RegistryServer registry, string repository)
    {
        var raw = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, "1"), cancellationToken: TestContext.CancellationToken);
        using var index = JsonDocument.Parse(raw);
        return [.. index.RootElement.GetProperty("manifests").EnumerateArray().Select(m =>
        {
            var platform = m.GetProperty("platform");
            return platform.GetProperty("os").GetString() + "/" + platform.GetProperty("architecture").GetString();
        })];
    }

    [TestMethod]
    public async Task WebTemplate_PublishesBothPlatforms()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("kinds-web");
        var baseImage = await SeedBaseAsync(registry);
        var project = await TestProject.CreateFromTemplateAsync("kinds-web", "web", Platforms, TestContext.CancellationToken);

        var result = await PublishAsync(project, registry, repository, baseImage, TestProject.RegistryEnvironment(registry));

        // Microsoft.NET.Sdk.Web's _TransformWebConfig once failed here, in a RID-less publish folder that was never made.
        result.ShouldSucceed().ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)").ShouldNotContain("TransformWebConfig", "the Web SDK's publish tripping");
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64" }, await IndexPlatformsAsync(registry, repository));
    }

    [TestMethod]
    public async Task WorkerTemplate_PublishesBothPlatforms()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("kinds-worker");
        var baseImage = await SeedBaseAsync(registry);
        var project = await TestProject.CreateFromTemplateAsync("kinds-worker", "worker", Platforms, TestContext.CancellationToken);

        var result = await PublishAsync(project, registry, repository, baseImage, TestProject.RegistryEnvironment(registry));

        result.ShouldSucceed().ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)");
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64" }, await IndexPlatformsAsync(registry, repository));
    }

    /// <summary>
    /// A console app on a password registry after <c>docker login</c> (a docker config <c>auths</c> entry): one setup
    /// serves the SDK's per-platform pushes and this package's index push; the password is in no log.
    /// </summary>
    [TestMethod]
    public async Task ConsoleTemplate_PublishesBothPlatforms_WithOneDockerLoginForBothHalves()
    {
        var registry = await TestRegistries.Basic;
        var repository = TestNames.Repository("kinds-console");
        var baseImage = await SeedBaseAsync(registry);
        var project = await TestProject.CreateFromTemplateAsync("kinds-console", "console", Platforms, TestContext.CancellationToken);
        var environment = TestProject.RegistryEnvironment(registry, withCredentials: false);
        environment["DOCKER_CONFIG"] = WriteDockerConfig(project, registry);

        var result = await PublishAsync(project, registry, repository, baseImage, environment);

        result.ShouldSucceed().ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)");
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64" }, await IndexPlatformsAsync(registry, repository));
        SecretScan.AssertNotInBinaryLog(result.BinlogPath, registry.Password!, registry.Username!);
    }

    /// <summary>
    /// Only <c>MULTIARCH_REGISTRY_USERNAME/PASSWORD</c>, which the SDK does not read: a coded error before anything is
    /// built, instead of CONTAINER1008 inside each per-platform push after everything was built.
    /// </summary>
    [TestMethod]
    public async Task OnlyMultiArchCredentials_FailBeforeAnythingIsBuilt_SayingTheSdkHasNone()
    {
        var registry = await TestRegistries.Basic;
        var repository = TestNames.Repository("kinds-creds");
        var project = await TestProject.CreateAsync("kinds-creds", Platforms, TestContext.CancellationToken);

        // dotnet build -t: runs PublishMultiArchContainer alone (no RID-less Publish first), so nothing at all compiles.
        var result = await project.BuildAsync(
            new() { ["ContainerRegistry"] = registry.Host, ["ContainerRepository"] = repository, ["ContainerImageTag"] = "1" },
            TestProject.RegistryEnvironment(registry),
            ["-t:PublishMultiArchContainer"],
            TestContext.CancellationToken);

        result.ShouldFailWith("MULTIARCH4026").ShouldContain("docker login " + registry.Host).ShouldShowNoStackTrace()
            .ShouldNotContain("CONTAINER1008", "the SDK's own failure").ShouldNotContain("app.dll", "a compile");
        SecretScan.AssertNotInBinaryLog(result.BinlogPath, registry.Password!, registry.Username!);
    }

    [TestMethod]
    public async Task MultiTargetedProject_PublishesTheFrameworkChosenWithF_AndNamesWhatToSetWithoutIt()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("kinds-multi");
        var baseImage = await SeedBaseAsync(registry);
        // UseAppHost=false: net9.0 needs no apphost packs to restore (only the targeting pack).
        var project = await TestProject.CreateAsync("kinds-multi", """
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework></TargetFramework>
                <TargetFrameworks>net10.0;net9.0</TargetFrameworks>
                <RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>
                <UseAppHost>false</UseAppHost>
              </PropertyGroup>
            """, TestContext.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(project.Directory, "Program.cs"), "System.Console.WriteLine(\"hello\");\n", TestContext.CancellationToken);
        var environment = TestProject.RegistryEnvironment(registry);

        // Without a framework: the SDK's publish stops first (NETSDK1129, listing the frameworks); the target alone says -f.
        (await PublishAsync(project, registry, repository, baseImage, environment)).ShouldFailWith("NETSDK1129").ShouldShowNoStackTrace();
        (await project.BuildAsync(new() { ["ContainerRegistry"] = registry.Host }, environment, ["-t:PublishMultiArchContainer"], TestContext.CancellationToken))
            .ShouldFailWith("MULTIARCH4023").ShouldContain("dotnet publish -f net10.0 -t:PublishMultiArchContainer").ShouldShowNoStackTrace();

        var result = await PublishAsync(project, registry, repository, baseImage, environment, "-f", "net10.0");

        result.ShouldSucceed().ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)").ShouldContain("net10.0/linux-arm64/");
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64" }, await IndexPlatformsAsync(registry, repository));
    }

    private static string WriteDockerConfig(TestProject project, RegistryServer registry)
    {
        var directory = Path.Combine(project.Directory, "docker-config");
        Directory.CreateDirectory(directory);
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:{registry.Password}"));
        File.WriteAllText(Path.Combine(directory, "config.json"), "{\"auths\":{\"" + registry.Host + "\":{\"auth\":\"" + auth + "\"}}}");
        return directory;
    }
}
