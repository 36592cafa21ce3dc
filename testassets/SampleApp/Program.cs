// The sample app for PublishMultiArchContainer: prints where it runs.
System.Console.WriteLine($"Hello from {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier} ({System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}).");
