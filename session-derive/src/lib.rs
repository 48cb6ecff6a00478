use proc_macro::TokenStream; #[proc_macro_derive(SessionData, attributes(session))] pub fn d(_: TokenStream)->TokenStream{TokenStream::new()}
