using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// The out-of-process task host, as .NET Framework MSBuild 18 (Visual Studio) runs the tasks (<c>Runtime="NET"</c>):
/// the project re-registers the tasks under their short names with <c>TaskFactory="TaskHostFactory"</c> (an exact name
/// wins over the package's full-name registration), so each task runs in a task host process of its own, where no
/// build-wide object outlives the task. A push and an inspect of it, in one build.
/// </summary>
[TestClass]
public sealed class TaskHostEndToEndTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task PushAndInspect_RunInAnExternalTaskHost()
    {
        var registry = await TestRegistries.Token;
        var repository = TestNames.Repository("e2e-taskhost");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "taskhost");
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "taskhost");
        await SkopeoPusher.PushAsync(registry, repository, "amd64", amd64, TestContext.CancellationToken);
        await SkopeoPusher.PushAsync(registry, repository, "arm64", arm64, TestContext.CancellationToken);
        var project = await TestProject.CreateAsync("taskhost", """
              <UsingTask TaskName="InspectImageManifest" AssemblyFile="$(MultiArchTasksAssembly)" TaskFactory="TaskHostFactory" Condition="'$(MultiArchTasksAssembly)' != ''" />
              <UsingTask TaskName="PushManifestList" AssemblyFile="$(MultiArchTasksAssembly)" TaskFactory="TaskHostFactory" Condition="'$(MultiArchTasksAssembly)' != ''" />
            """, TestContext.CancellationToken);

        var result = await project.MSBuildAsync(
            "PushContainerManifestList;InspectContainerImage",
            new()
            {
                ["ContainerManifestPlatforms"] = "linux/amd64,linux/arm64",
                ["ContainerManifestTemplate"] = registry.Reference(repository, "ARCH"),
                ["ContainerManifestTarget"] = registry.Reference(repository, "1"),
                ["ContainerInspectImage"] = registry.Reference(repository, "1"),
            },
            TestProject.RegistryEnvironment(registry),
            ["-v:diag"],
            TestContext.CancellationToken);

        result.ShouldSucceed()
            .ShouldContain("Launching task \"PushManifestList\" from assembly")
            .ShouldContain("Launching task \"InspectImageManifest\" from assembly")
            .ShouldContain("in an external task host")
            .ShouldContain($"Pushed {registry.Reference(repository, "1")}@sha256:")
            .ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)")
            .ShouldContain($"Name:   {registry.Reference(repository, "1")} (Type: {MediaTypes.OciIndex})");
        SecretScan.AssertNotInBinaryLog(result.BinlogPath, registry.Password!, registry.Username!);
    }

    /// <summary>
    /// What a .NET Framework MSBuild older than 18 (which cannot run .NET tasks) gets: the props register no task there
    /// and set <c>_MultiArchTasksRunnable=false</c>; this run sets that property from the command line, as such an
    /// MSBuild would compute it, and every public target stops with the coded error instead of MSB4036 (task not found).
    /// </summary>
    [TestMethod]
    public async Task MSBuildThatCannotRunTheTasks_GetsACodedErrorNamingTheFix()
    {
        var project = await TestProject.CreateAsync("old-msbuild", cancellationToken: TestContext.CancellationToken);

        foreach (var target in new[] { "InspectContainerImage", "PushContainerManifestList", "PublishMultiArchContainer", "TestContainerRegistry" })
        {
            var result = await project.MSBuildAsync(target, new() { ["_MultiArchTasksRunnable"] = "false", ["ContainerInspectImage"] = "registry.test/app:1" }, cancellationToken: TestContext.CancellationToken);

            result.ShouldFailWith("MULTIARCH4024").ShouldContain("Visual Studio 2026").ShouldContain("dotnet publish -t:PublishMultiArchContainer")
                .ShouldNotContain("MSB4036", "a task MSBuild could not find");
        }
    }
}
